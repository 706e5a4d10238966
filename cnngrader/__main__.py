"""``python -m cnngrader``: grade the class (cnngrader/apps/autograde.py)."""
import sys

from cnngrader.apps.autograde import main

sys.exit(main())
