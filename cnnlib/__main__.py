"""``python -m cnnlib``: say where everything is (printed at the end of ``make``)."""
from pathlib import Path

from cnnlib import data

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    try:
        mnist = f"verified in {data.verify()}"
    except data.MnistError as err:
        mnist = f"NOT READY: {err}"
    notebooks = sorted(p.relative_to(ROOT) for p in (ROOT / "source").glob("*/*.ipynb"))
    print("cnn-course is set up.")
    print(f"  venv + kernel  : {ROOT / '.venv'} (Jupyter kernel 'cnn-course')")
    print(f"  MNIST          : {mnist}")
    print(f"  source/        : {len(notebooks)} instructor notebooks")
    for nb in notebooks:
        print(f"                   {nb}")
    print("  next           : make test | make lab | make help")


if __name__ == "__main__":
    main()
