"""Smoke test of an installed intrinsic-flow: import, build_info, one computation against the
NumPy reference, for the level chosen automatically (or by INTRINSIC_FLOW_CPU).

    python tools/wheel_smoke.py [--expect-cpu LEVEL]

Run it outside the source tree so that the installed package is the one imported.
"""
import argparse
import sys

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--expect-cpu", help="fail unless build_info()['cpu'] is this level")
    args = parser.parse_args(argv)

    import intrinsic_flow as itf
    import intrinsic_flow.reference as ref

    info = itf.build_info()
    print(f"intrinsic_flow {info['version']} from {itf.__file__}")
    print(f"build_info: {info}")
    if args.expect_cpu and info["cpu"] != args.expect_cpu:
        print(f"FAIL: the core module in use is {info['cpu']!r}, expected {args.expect_cpu!r}", file=sys.stderr)
        return 1
    net = itf.ReLUNet([3, 4, 2], bias="hidden")
    theta = net.init(0)
    gap = max(np.max(np.abs(itf.lift_jacobian(net, theta) - ref.lift_jacobian(net, theta))),
              np.max(np.abs(itf.conserved(net, theta) - ref.conserved(net, theta))))
    ranks = (itf.rank_lift(net, theta), ref.rank_lift(net, theta))
    print(f"core vs reference: max |difference| {gap:.1e}, rank_lift {ranks[0]} vs {ranks[1]}")
    if not gap <= 1e-12 or ranks[0] != ranks[1]:
        print("FAIL: the core and the reference disagree", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
