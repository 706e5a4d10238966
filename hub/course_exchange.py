"""The course's nbgrader exchange: nbgrader's filesystem exchange, with submissions private to their author
and the instructors.

nbgrader's own ExchangeSubmit leaves every submitted file world-readable (0644) in the shared inbound and
relies on the folder's name (student, timestamp, a random string) not being known: a student who learns or
guesses it reads another's work (nbgrader issue 978). The inbound folder is setgid to the group of the
account that released the assignment (the course's grader), so a submission's files already belong to that
group: PrivateSubmit takes the permissions of "others" away, and only its author and that group can read it.
"""
from __future__ import annotations

import os
import stat

from nbgrader.exchange.default.submit import ExchangeSubmit


class PrivateSubmit(ExchangeSubmit):
    def do_copy(self, src, dest, log=None):
        if os.path.dirname(os.path.abspath(dest)) != os.path.abspath(self.inbound_path):
            return super().do_copy(src, dest, log)
        # The submission folder must keep the inbound's group and setgid bit, which shutil.copytree's
        # final copystat would take away: then the timestamp and secret written next would belong to the
        # student's group only and the grader could not collect them. So copy into a folder inside it.
        os.makedirs(dest)
        staging = os.path.join(dest, ".copying")
        super().do_copy(src, staging, log)
        for name in os.listdir(staging):
            os.rename(os.path.join(staging, name), os.path.join(dest, name))
        os.rmdir(staging)

    def copy_files(self):
        super().copy_files()
        dest = os.path.join(self.inbound_path, self.assignment_filename)
        for dirpath, _, filenames in os.walk(dest):
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP)
            if dirpath != dest:
                os.chmod(dirpath, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_ISGID)
        # the group (the instructors) removes old submissions, so it keeps write access to the top folder
        os.chmod(dest, stat.S_IRWXU | stat.S_IRWXG | stat.S_ISGID)
