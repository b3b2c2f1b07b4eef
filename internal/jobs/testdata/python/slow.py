"""A job that never finishes on its own, to be stopped by MaxRuntimeInSeconds."""
import time

for i in range(10000):
    print(f"still working {i}", flush=True)
    time.sleep(0.2)
