"""The grading kernel's sandbox: launcher.py (run by the kernelspec), kernel_guard.py (sent into the kernel),
processes.py (uids, cgroups, processes of the kernels)."""
