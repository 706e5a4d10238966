"""Training benchmark, every variant in its own fresh process, side by side in one run:

1. loop: the seed notebooks' data loop against cnnlib's, for the same model, epoch and optimiser;
2. recipe: the time to 99 % test accuracy of the seed recipe, of notebook 04's previous recipe and of its
   recipe now (several seeds), and where the recipe's time goes against the compute floor of its FLOPs on
   this CPU (FLOPs counted by torch, divided by a float32 matmul peak measured in the same run);
3. kernels: two course kernels training at once on this machine's cores, each against one alone, without
   and with the course's OpenMP policy (cnnlib.cpu).

    python scripts/bench_training.py [--epochs 1] [--only loop,recipe,kernels] [--rounds 3]   (or: make bench)

The variants run one after the other (a pair of kernels at the same time), so they share the machine's
state: compare the ratios, not absolute times, on a shared machine (the load average is printed).
Notebook 04's recipe (network, epochs, learning rate, batch size) is read from the notebook itself.
"""
from __future__ import annotations

import argparse
import ast
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from cnnlib import cpu  # no torch: the policy must be set before torch loads

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOK_04 = ROOT / "source" / "04_mnist" / "mnist.ipynb"
TARGET_ACC = 0.99
#: seeds the recipe is run with (the notebook uses 0; a student may change it)
RECIPE_SEEDS = (0, 1, 2)
#: notebook 04's recipe before issue 16, for the ratio
PREVIOUS = {"model": "conv_pool_net", "bn": True, "num_epochs": 2, "lr": 4e-3, "batch_size": 100}
#: the seed recipe stops here if it has not reached TARGET_ACC
SEED_MAX_EPOCHS = 8
#: timed training steps per kernel in the two-kernel measurement (after a warm-up)
KERNEL_STEPS, WARMUP_STEPS = 60, 5


def notebook_recipe() -> dict:
    """The network and the ``num_epochs, lr, batch_size = ...`` line of notebook 04's training cells."""
    cells = json.loads(NOTEBOOK_04.read_text())["cells"]
    source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    hyper = re.search(r"^num_epochs, lr, batch_size = (.+)$", source, re.M)
    net = re.search(r"^net = models\.(\w+)\(\)$", source, re.M)
    if not hyper or not net:
        raise SystemExit(f"{NOTEBOOK_04}: expected a line `num_epochs, lr, batch_size = ...` and one "
                         f"`net = models.<name>()`; update notebook_recipe() in {Path(__file__).name}")
    num_epochs, lr, batch_size = ast.literal_eval(hyper.group(1))
    return {"model": net.group(1), "num_epochs": num_epochs, "lr": lr, "batch_size": batch_size}


def build(recipe: dict):
    from cnnlib import models

    return getattr(models, recipe["model"])(**({"bn": True} if recipe.get("bn") else {}))


def describe(recipe: dict) -> str:
    return (f"{recipe['model']}{'(bn=True)' if recipe.get('bn') else '()'}, {recipe['num_epochs']} one-cycle "
            f"epochs to lr {recipe['lr']:g}, batch {recipe['batch_size']}")


def seed_loop(epochs: int) -> dict:
    """The seed notebooks' recipe: torchvision MNIST + ToTensor through a DataLoader, batch 150, Adam."""
    import torch
    from torch.utils.data import DataLoader

    from cnnlib import data, models

    torch.manual_seed(0)
    train_set, test_set = data.mnist_datasets()
    train_loader = DataLoader(train_set, batch_size=150, shuffle=True, num_workers=0)
    test_loader = DataLoader(test_set, batch_size=150, shuffle=False)
    net = models.conv_pool_net()
    optimizer = torch.optim.Adam(net.parameters())
    criterion = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        net.train()
        for X, y in train_loader:
            optimizer.zero_grad()
            loss = criterion(net(X), y)
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    net.eval()
    correct = 0
    with torch.no_grad():
        for X, y in test_loader:
            correct += (net(X).argmax(1) == y).sum().item()
    return {"seconds_per_epoch": seconds / epochs, "test_acc": correct / len(test_set)}


def seed_data_only(epochs: int) -> dict:
    """Profile of the seed loop's data path alone: one pass over its DataLoader, no network."""
    from torch.utils.data import DataLoader

    from cnnlib import data

    train_set, _ = data.mnist_datasets()
    start = time.perf_counter()
    for _ in DataLoader(train_set, batch_size=150, shuffle=True, num_workers=0):
        pass
    return {"seconds_per_epoch": time.perf_counter() - start}


def cnnlib_loop(epochs: int, precision: str) -> dict:
    """cnnlib's path for the same model and hyper-parameters: in-memory tensors, index batches,
    channels-last, glibc malloc tuning, inference-mode evaluation (here on the test set after each epoch,
    included in the time), in the given ``precision`` ("fp32", the default; or the opt-in "bf16")."""
    import torch

    from cnnlib import data, models, train

    torch.manual_seed(0)
    t = data.mnist_tensors(val_size=0)
    t.X_val, t.y_val = t.X_test, t.y_test  # all 60,000 images train, as in the seed loop
    net = models.conv_pool_net()
    start = time.perf_counter()
    history = train.fit(net, t, num_epochs=epochs, lr=1e-3, batch_size=150, schedule="constant", progress=False,
                        precision=precision)
    total = time.perf_counter() - start
    # Per epoch = the epochs' own time as `fit` records it (training + the test-set pass); the seed loop's
    # timer likewise starts after its optimiser exists. What fit spends once (building Adam imports
    # torch._dynamo, about 1 s) is reported apart.
    return {"seconds_per_epoch": sum(history["seconds"]) / epochs, "once_s": total - sum(history["seconds"]),
            "test_acc": history["val_acc"][-1], "precision": history.precision}


def seed_to_99() -> dict:
    """The seed recipe, tested after every epoch until it reaches TARGET_ACC: wall time from the imports."""
    start = time.perf_counter()
    import torch
    from torch.utils.data import DataLoader

    from cnnlib import data, models

    torch.manual_seed(0)
    train_set, test_set = data.mnist_datasets()
    train_loader = DataLoader(train_set, batch_size=150, shuffle=True, num_workers=0)
    test_loader = DataLoader(test_set, batch_size=150, shuffle=False)
    net = models.conv_pool_net()
    optimizer = torch.optim.Adam(net.parameters())
    criterion = torch.nn.CrossEntropyLoss()
    accs = []
    while len(accs) < SEED_MAX_EPOCHS and (not accs or accs[-1] < TARGET_ACC):
        net.train()
        for X, y in train_loader:
            optimizer.zero_grad()
            criterion(net(X), y).backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            accs.append(sum((net(X).argmax(1) == y).sum().item() for X, y in test_loader) / len(test_set))
    return {"total_s": time.perf_counter() - start, "test_accs": accs}


def recipe_run(recipe: dict, seed: int) -> dict:
    """A notebook-04-style run of ``recipe``, timed from the imports to the test accuracy."""
    start = time.perf_counter()
    import torch

    from cnnlib import data, train

    train.set_seed(seed)
    t = data.mnist_tensors(val_size=10_000, seed=0)
    loaded = time.perf_counter()
    net = build(recipe)
    history = train.fit(net, t, num_epochs=recipe["num_epochs"], lr=recipe["lr"], batch_size=recipe["batch_size"],
                        seed=seed, progress=False)
    trained = time.perf_counter()
    _, test_acc = train.evaluate(net, t.X_test, t.y_test)
    return {"load_s": loaded - start, "train_s": trained - loaded, "total_s": time.perf_counter() - start,
            "epoch_s": history["seconds"], "test_acc": test_acc, "threads": torch.get_num_threads()}


def matmul_peak() -> dict:
    """This CPU's float32 peak as torch reaches it: the best of 10 timed 2048x2048 matrix products."""
    import torch

    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = math.inf
    for _ in range(10):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return {"gflops": 2 * n**3 / best / 1e9, "threads": torch.get_num_threads()}


#: torch.profiler op names -> the part of a training step they belong to (first match wins)
OP_GROUPS = (("convolution", ("conv",)), ("batch norm", ("batch_norm",)), ("ReLU", ("relu", "threshold")),
             ("Adam", ("_foreach", "Optimizer", "adam")))


def recipe_profile() -> dict:
    """Notebook 04's network on one fixed batch, as fit runs it (channels-last, tune_cpu): FLOPs per image of
    a training step and of an evaluation pass, an epoch of training steps timed, and a profile of 10 steps."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from cnnlib import train

    recipe = notebook_recipe()
    bs = recipe["batch_size"]
    train.tune_cpu()
    torch.manual_seed(0)
    net = build(recipe).to(memory_format=torch.channels_last)
    X = torch.randn(bs, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (bs,))
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe["lr"])

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(X), y).backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(X), y).backward()
    train_flops = counter.get_total_flops() / bs
    net.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(X)
    eval_flops = counter.get_total_flops() / bs
    net.train()
    for _ in range(WARMUP_STEPS):
        step()
    steps = math.ceil(50_000 / bs)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    steps_s = time.perf_counter() - start
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            step()
    shares = dict.fromkeys([g for g, _ in OP_GROUPS] + ["other"], 0.0)
    for event in prof.key_averages():
        group = next((g for g, keys in OP_GROUPS if any(k in event.key for k in keys)), "other")
        shares[group] += event.self_cpu_time_total
    total = sum(shares.values()) or 1.0
    return {"train_flops_per_image": train_flops, "eval_flops_per_image": eval_flops, "steps": steps,
            "steps_s": steps_s, "shares": {g: v / total for g, v in shares.items()}}


def kernel_steps(workload: str) -> dict:
    """One "kernel" training: warm-up, say ready, wait for the go (so a pair starts together), then time
    KERNEL_STEPS steps of the workload's network as fit runs it. Milliseconds per step."""
    import torch
    import torch.nn.functional as F

    from cnnlib import train

    recipe = notebook_recipe() if workload == "notebook" else PREVIOUS
    bs = recipe["batch_size"]
    train.tune_cpu()
    torch.manual_seed(0)
    net = build(recipe).to(memory_format=torch.channels_last)
    X = torch.randn(bs, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (bs,))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(X), y).backward()
        optimizer.step()

    for _ in range(WARMUP_STEPS):
        step()
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    for _ in range(KERNEL_STEPS):
        step()
    return {"ms_per_step": (time.perf_counter() - start) / KERNEL_STEPS * 1000}


def steps_only(channels_last: bool = False, tuned: bool = False) -> dict:
    """An epoch's worth of the seed network's training steps on one fixed in-memory batch (no data path):
    plain (the seed loop's compute), and with each of cnnlib's two CPU settings added, to measure them apart."""
    import torch

    from cnnlib import models, train

    if tuned:
        train.tune_cpu()
    torch.manual_seed(0)
    X, y = torch.rand(150, 1, 28, 28), torch.randint(0, 10, (150,))
    net = models.conv_pool_net()
    if channels_last:
        net, X = net.to(memory_format=torch.channels_last), X.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters())
    criterion = torch.nn.CrossEntropyLoss()
    steps = 60_000 // 150
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.zero_grad()
        criterion(net(X), y).backward()
        optimizer.step()
    return {"seconds_per_epoch": time.perf_counter() - start}


VARIANTS = {
    "seed": lambda epochs, seed: seed_loop(epochs),
    "cnnlib_fp32": lambda epochs, seed: cnnlib_loop(epochs, "fp32"),
    "cnnlib_bf16": lambda epochs, seed: cnnlib_loop(epochs, "bf16"),
    "seed_data": lambda epochs, seed: seed_data_only(epochs),
    "steps_plain": lambda epochs, seed: steps_only(),
    "steps_channels_last": lambda epochs, seed: steps_only(channels_last=True),
    "steps_channels_last_tuned": lambda epochs, seed: steps_only(channels_last=True, tuned=True),
    "seed_to_99": lambda epochs, seed: seed_to_99(),
    "recipe": lambda epochs, seed: recipe_run(notebook_recipe(), seed),
    "recipe_previous": lambda epochs, seed: recipe_run(PREVIOUS, seed),
    "peak": lambda epochs, seed: matmul_peak(),
    "profile": lambda epochs, seed: recipe_profile(),
    "kernel_notebook": lambda epochs, seed: kernel_steps("notebook"),
    "kernel_previous": lambda epochs, seed: kernel_steps("previous"),
}


def child_argv(name: str, epochs: int = 1, seed: int = 0) -> list[str]:
    return [sys.executable, __file__, "--child", name, "--epochs", str(epochs), "--seed", str(seed)]


def run_child(name: str, epochs: int = 1, seed: int = 0) -> dict:
    """One variant in a fresh interpreter, so no variant inherits another's allocator or thread state."""
    out = subprocess.run(child_argv(name, epochs, seed), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_kernels(name: str, n: int, policy: bool) -> list[float]:
    """``n`` kernels of variant ``name`` training at the same moment; their ms/step. With or without the
    course's OpenMP policy in their environment (the rest of this environment either way)."""
    env = dict(os.environ)
    for key in cpu.POLICY:
        env.pop(key, None)
    if policy:
        cpu.apply(env)
    procs = [subprocess.Popen(child_argv(name), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(n)]
    for p in procs:
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"benchmark kernel {name} failed before its steps (exit {p.wait()})")
    for p in procs:  # all warmed up: start them together
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise RuntimeError(f"benchmark kernel {name} exited with {p.returncode}")
        results.append(json.loads(out.strip().splitlines()[-1])["ms_per_step"])
    return results


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bench_loop(epochs: int) -> None:
    import torch

    onednn_bf16 = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    seed = run_child("seed", epochs)
    ours = run_child("cnnlib_fp32", epochs)
    print(f"seed-style loop (DataLoader + ToTensor), batch 150:  {seed['seconds_per_epoch']:6.1f} s/epoch, "
          f"test accuracy {seed['test_acc']:.2%}")
    ratio = seed["seconds_per_epoch"] / ours["seconds_per_epoch"]
    print(f"cnnlib loop, float32 (the default), batch 150:      {ours['seconds_per_epoch']:6.1f} s/epoch, "
          f"test accuracy {ours['test_acc']:.2%} (+ {ours['once_s']:.1f} s once per fit)")
    print(f"speed-up per epoch, same model and epochs: {ratio:.2f}x (target >= 3x: {'met' if ratio >= 3 else 'NOT met'})")
    if onednn_bf16:
        bf16 = run_child("cnnlib_bf16", epochs)
        print(f"cnnlib loop, bfloat16 autocast (opt-in; oneDNN bf16): {bf16['seconds_per_epoch']:6.1f} s/epoch, "
              f"test accuracy {bf16['test_acc']:.2%}, speed-up {seed['seconds_per_epoch'] / bf16['seconds_per_epoch']:.2f}x "
              f"(not the default: wrong weight gradients in one case, see cnnlib.train.PRECISIONS)")
    data_only = run_child("seed_data")["seconds_per_epoch"]
    compute = run_child("steps_plain")["seconds_per_epoch"]
    print(f"profile of the seed loop's epoch ({seed['seconds_per_epoch']:.1f} s): DataLoader + ToTensor alone "
          f"{data_only:.1f} s; the network's float32 steps alone (one fixed in-memory batch, no cnnlib settings) "
          f"{compute:.1f} s. A 3x loop needs {seed['seconds_per_epoch'] / 3:.1f} s/epoch, i.e. those steps "
          f"{compute / (seed['seconds_per_epoch'] / 3):.1f}x faster")
    cl = run_child("steps_channels_last")["seconds_per_epoch"]
    tuned = run_child("steps_channels_last_tuned")["seconds_per_epoch"]
    print(f"cnnlib's CPU settings on those steps: plain {compute:.1f} s, channels-last {cl:.1f} s "
          f"({compute / cl:.2f}x), + tune_cpu {tuned:.1f} s ({cl / tuned:.2f}x more; {compute / tuned:.2f}x in all)")


def bench_recipe() -> None:
    recipe = notebook_recipe()
    seed = run_child("seed_to_99")
    previous = run_child("recipe_previous")
    runs = {s: run_child("recipe", seed=s) for s in RECIPE_SEEDS}
    accs = seed["test_accs"]
    reached = accs[-1] >= TARGET_ACC
    print(f"seed recipe (DataLoader + ToTensor, batch 150, Adam 1e-3, conv_pool_net with dropout): "
          f"{'reached' if reached else 'did NOT reach'} {TARGET_ACC:.1%} after {len(accs)} epochs "
          f"({', '.join(f'{a:.2%}' for a in accs)}) in {seed['total_s']:.1f} s")
    print(f"previous notebook 04 recipe ({describe(PREVIOUS)}): {previous['total_s']:.1f} s "
          f"(data {previous['load_s']:.1f} s) to {previous['test_acc']:.2%}")
    print(f"notebook 04 recipe now ({describe(recipe)}; {runs[0]['threads']} threads), data + training + test:")
    for s, r in runs.items():
        print(f"  seed {s}: {r['total_s']:5.1f} s (data {r['load_s']:.1f} s, epochs "
              f"{' + '.join(f'{e:.1f}' for e in r['epoch_s'])} s) -> test accuracy {r['test_acc']:.2%}")
    worst = min(r["test_acc"] for r in runs.values())
    times = [r["total_s"] for r in runs.values()]
    print(f"  every seed >= {TARGET_ACC:.1%}: {'yes' if worst >= TARGET_ACC else 'NO'} (lowest {worst:.2%})")
    to_99 = seed["total_s"] / runs[0]["total_s"]
    print(f"time to {TARGET_ACC:.0%}, seed 0: seed recipe / recipe now = {to_99:.1f}x (target 10x: "
          f"{'met' if to_99 >= 10 and reached else 'NOT met'}; over the seeds {seed['total_s'] / max(times):.1f}-"
          f"{seed['total_s'] / min(times):.1f}x); previous recipe / now = {previous['total_s'] / runs[0]['total_s']:.1f}x; "
          f"previous recipe's own ratio to the seed recipe: {seed['total_s'] / previous['total_s']:.1f}x")

    peak = run_child("peak")
    prof = run_child("profile")
    gflop = lambda flops: flops / 1e9  # noqa: E731
    epoch_flops = 50_000 * prof["train_flops_per_image"] + 10_000 * prof["eval_flops_per_image"]
    floor_s = epoch_flops / (peak["gflops"] * 1e9)
    steps_floor_s = 50_000 * prof["train_flops_per_image"] / (peak["gflops"] * 1e9)
    epoch_s = sorted(e for r in runs.values() for e in r["epoch_s"])[len(runs) * recipe["num_epochs"] // 2]
    print(f"where an epoch of the recipe goes (counted by torch.utils.flop_counter; convolutions and the "
          f"matrix products only):")
    print(f"  FLOPs: training step {gflop(prof['train_flops_per_image']) * 1e3:.1f} MFLOP/image (forward + "
          f"backward) x 50,000 + validation {gflop(prof['eval_flops_per_image']) * 1e3:.1f} MFLOP/image x 10,000 "
          f"= {gflop(epoch_flops):.0f} GFLOP per epoch")
    print(f"  this CPU's float32 peak (2048x2048 matmul, {peak['threads']} threads, best of 10): "
          f"{peak['gflops']:.0f} GFLOP/s -> compute floor {floor_s:.2f} s per epoch")
    print(f"  measured: an epoch of fit {epoch_s:.1f} s (median over the seeds) = {epoch_s / floor_s:.1f}x the floor; "
          f"its {prof['steps']} training steps alone on one fixed batch {prof['steps_s']:.1f} s "
          f"({gflop(50_000 * prof['train_flops_per_image']) / prof['steps_s']:.0f} GFLOP/s, "
          f"{prof['steps_s'] / steps_floor_s:.1f}x their floor); the rest (batch cutting, validation pass, metrics) "
          f"{epoch_s - prof['steps_s']:.1f} s")
    print("  a training step's time by op (torch.profiler, self time of 10 steps): "
          + ", ".join(f"{g} {v:.0%}" for g, v in prof["shares"].items()))


def bench_kernels(rounds: int) -> None:
    """Per round, one kernel alone then two at once, without then with the policy; the slower of the pair
    against the one alone (the median over the rounds is the figure: other work on the machine varies)."""
    n = os.cpu_count() or 2
    print(f"two kernels at once on {n} cores (each {KERNEL_STEPS} training steps, torch's default threads; "
          f"policy = cnnlib.cpu.POLICY {cpu.POLICY}):")
    for name, label in (("kernel_notebook", f"notebook 04 ({describe(notebook_recipe())})"),
                        ("kernel_previous", f"previous notebook 04 ({describe(PREVIOUS)})")):
        print(f"  {label}, ms/step:")
        ratios = {False: [], True: []}
        for r in range(1, rounds + 1):
            line = []
            for policy in (False, True):
                alone = run_kernels(name, 1, policy)[0]
                pair = run_kernels(name, 2, policy)
                ratios[policy].append(max(pair) / alone)
                line.append(f"{'with' if policy else 'without'} policy: alone {alone:.0f}, two at once "
                            f"{' and '.join(f'{p:.0f}' for p in pair)} ({ratios[policy][-1]:.1f}x)")
            print(f"    round {r}: " + "; ".join(line), flush=True)
        median = {k: sorted(v)[len(v) // 2] for k, v in ratios.items()}
        print(f"    median slow-down of two at once: without policy {median[False]:.1f}x, with policy "
              f"{median[True]:.1f}x (goal <= 2x: {'met' if median[True] <= 2 else 'NOT met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="loop,recipe,kernels", help="comma-separated sections to run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the two-kernel measurement")
    parser.add_argument("--child", choices=VARIANTS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(VARIANTS[args.child](args.epochs, args.seed)))
        return
    sections = set(args.only.split(","))
    if unknown := sections - {"loop", "recipe", "kernels"}:
        parser.error(f"--only: unknown sections {sorted(unknown)}; choose from loop, recipe, kernels")

    cpu.apply()  # every variant runs as course kernels do (the kernel measurement sets it per run)
    import torch

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# training benchmark, {date.today()}, {cpu_model()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, torch {torch.__version__}; load average at start {load:.1f}")
    if "loop" in sections:
        bench_loop(args.epochs)
    if "recipe" in sections:
        bench_recipe()
    if "kernels" in sections:
        bench_kernels(args.rounds)
    if hasattr(os, "getloadavg"):
        print(f"# load average at the end {os.getloadavg()[0]:.1f} (above 0 on an idle machine means other work ran)")


if __name__ == "__main__":
    main()
