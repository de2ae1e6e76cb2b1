"""`intrinsic-flow inspect`: the geometry of phi at one random theta."""
from __future__ import annotations

from ._args import add_model_arguments, add_seed_argument, model_from


def register(subparsers) -> None:
    parser = subparsers.add_parser("inspect", help="ranks of dphi and [dphi; dh] at a random theta",
                                   description="Print D, d, rank dphi, the known laws and whether theta is "
                                               "recoverable from (phi(theta), h(theta)) at a Gaussian theta.")
    add_model_arguments(parser)
    add_seed_argument(parser, "the random theta")
    parser.set_defaults(func=run)


def inspect_model(model, seed: int = 0) -> dict:
    """The numbers `inspect` prints, as a dict."""
    import intrinsic_flow as itf
    from .. import _checks

    # refuse before drawing theta: its largest arrays are the Gram matrices of rank_info (D x D)
    _checks.check_size(2 * float(model.n_params) ** 2, "the Gram matrix (D x D) of the ranks")
    theta = model.init(seed)
    lift_info = itf.rank_info(model, theta, "lift")
    joint_info = itf.rank_info(model, theta, "joint")
    return {
        "model": model, "n_params": model.n_params, "n_lifted": model.n_lifted,
        "rank_lift": lift_info.rank, "info_lift": lift_info,
        "n_known_laws": model.n_known_laws,
        "rank_conserved": itf.numerical_rank(itf.conserved_jacobian(model, theta)),
        "rank_joint": joint_info.rank, "info_joint": joint_info,
        "recoverable": joint_info.rank == model.n_params,
    }


def format_report(facts: dict) -> str:
    def margin(info):
        # the smallest counted singular value against the cut: both stable under rounding, unlike
        # the dropped ones, which are rounding noise
        return f"smallest kept singular value {info.sigma_kept:.1e}, cut at {info.threshold:.1e}"

    lines = [
        f"model                        {facts['model']}",
        f"parameters D                 {facts['n_params']}",
        f"lifted variables d           {facts['n_lifted']}",
        f"rank dphi                    {facts['rank_lift']}  ({margin(facts['info_lift'])})",
        f"known conservation laws      {facts['n_known_laws']}  (rank of dh: {facts['rank_conserved']})",
        f"rank [dphi; dh]              {facts['rank_joint']}  ({margin(facts['info_joint'])})",
        f"recoverable from (phi, h)    {'yes' if facts['recoverable'] else 'no'}",
    ]
    return "\n".join(lines)


def run(args) -> int:
    print(format_report(inspect_model(model_from(args), args.seed)))
    return 0
