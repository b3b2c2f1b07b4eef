"""A training script that fails the SageMaker way: the reason goes to /opt/ml/output/failure."""
import sys
import traceback


def main():
    raise ValueError("column 'Rings' is missing from the training data")


if __name__ == "__main__":
    try:
        main()
    except Exception as e:
        with open("/opt/ml/output/failure", "w") as f:
            f.write(f"{type(e).__name__}: {e}")
        traceback.print_exc()
        sys.exit(1)
