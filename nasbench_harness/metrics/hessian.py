"""Dominant eigenvalue of ∇²_α L_valid, the collapse signal of RobustDARTS (Zela et al., ICLR 2020).

RobustDARTS (`src/search/analyze.py`, `train_search.py`) measures, after the training steps of every
epoch with `epoch % report_freq_hessian == 0` and of the last epoch, on the epoch's last α batch and
with the network still in train mode: the full Hessian of the validation loss over the concatenated
[α_normal, α_reduce], built row by row by double backprop, with the α weight decay added on the
diagonal; the signal is `max(eigvals(H))`, the largest *algebraic* eigenvalue.

Two modes compute it here:

* `exact` reproduces that: dense Hessian, one double-backprop row per α entry, symmetrised, the
  largest eigenvalue of `eigvalsh`. Cost: one backward pass per α entry (224 on the DARTS space).
* `fast` runs Lanczos (full reorthogonalisation) on Hessian-vector products from the same retained
  double-backprop graph, stopping when the largest Ritz value changes by less than `tol` (relative).
  The largest Ritz value converges to the largest algebraic eigenvalue, so a spectrum whose dominant
  eigenvalue by magnitude is negative is handled without shifting (power iteration would return it).

Both build the graph once, so the measurement sees one draw of drop-path masks and `noise` ops, and
both leave no trace: the network's mode, BatchNorm running statistics and the global RNG are restored
afterwards, so computing the metric never changes the search.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from nasbench_harness.metrics.base import EpochState, register_epoch_metric

Batch = tuple[Tensor, Tensor]
#: Returns the mixing weights the method searches with (None: softmax(α)); called inside the graph.
MixingFn = Callable[[], Any]
Mode = Literal["exact", "fast"]


@dataclass(frozen=True)
class EigenResult:
    value: float
    mode: str
    #: Hessian rows (exact) or Hessian-vector products (fast) computed.
    products: int
    converged: bool
    seconds: float


@contextmanager
def _measurement(net: nn.Module) -> Iterator[None]:
    """Train mode as in RobustDARTS; BN buffers, module modes and RNG restored on exit."""
    modes = {m: m.training for m in net.modules()}
    buffers = {name: b.detach().clone() for name, b in net.named_buffers()}
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        net.train()
        try:
            yield
        finally:
            with torch.no_grad():
                for name, b in net.named_buffers():
                    b.copy_(buffers[name])
            for module, training in modes.items():
                module.training = training


def _alpha_gradient(net: nn.Module, batches: Sequence[Batch], mixing: MixingFn | None) -> tuple[list[Tensor], Tensor]:
    """α and the flat gradient of the mean validation loss over `batches`, with its graph kept."""
    alphas = list(net.arch_parameters())
    loss = sum(F.cross_entropy(net(x, mixing() if mixing else None), y) for x, y in batches) / len(batches)
    grads = torch.autograd.grad(loss, alphas, create_graph=True, allow_unused=True, materialize_grads=True)
    return alphas, torch.cat([g.reshape(-1) for g in grads])


def _second_derivative(flat_grad: Tensor, alphas: list[Tensor], grad_output: Tensor) -> Tensor:
    """d(flat_grad · grad_output)/dα: one Hessian row for a unit vector, else a Hessian-vector product."""
    if not flat_grad.requires_grad:  # the loss is linear in α, or does not depend on it
        return torch.zeros_like(grad_output)
    rows = torch.autograd.grad(
        flat_grad, alphas, grad_outputs=grad_output, retain_graph=True, allow_unused=True, materialize_grads=True
    )
    return torch.cat([r.reshape(-1) for r in rows])


def _as_batches(batch: Batch | Sequence[Batch]) -> list[Batch]:
    if isinstance(batch, tuple) and len(batch) == 2 and isinstance(batch[0], Tensor):
        return [batch]  # type: ignore[list-item]
    return list(batch)  # type: ignore[arg-type]


def alpha_hessian(
    net: nn.Module,
    batch: Batch | Sequence[Batch],
    *,
    mixing: MixingFn | None = None,
    arch_weight_decay: float = 0.0,
) -> Tensor:
    """The dense Hessian of the validation loss over the concatenated α (RobustDARTS `_hessian`).

    Row i is the gradient of (∂L/∂α)_i, by double backprop; `arch_weight_decay` goes on the diagonal,
    since RobustDARTS differentiates grad + wd·α. The result is symmetrised ((H + Hᵀ)/2) where
    RobustDARTS mirrors the upper triangle: the two differ by floating-point rounding only.
    """
    with _measurement(net):
        alphas, flat = _alpha_gradient(net, _as_batches(batch), mixing)
        eye = torch.eye(flat.numel(), dtype=flat.dtype, device=flat.device)
        hessian = torch.stack([_second_derivative(flat, alphas, eye[i]) for i in range(flat.numel())])
    hessian = hessian.detach() + arch_weight_decay * eye
    return (hessian + hessian.T) / 2


def lanczos_max_eigenvalue(
    matvec: Callable[[Tensor], Tensor],
    n: int,
    *,
    tol: float = 1e-3,
    max_iter: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[float, int, bool]:
    """Largest algebraic eigenvalue of a symmetric operator given by `matvec` on R^n.

    Lanczos with full reorthogonalisation (n is at most a few hundred, so storing the basis is free);
    stops when the largest Ritz value changes by less than `tol` relative to itself, or when the
    Krylov space is invariant (then it is exact). Returns (value, products, converged).
    """
    max_iter = n if max_iter is None else min(max_iter, n)
    q = torch.randn(n, generator=generator, dtype=torch.float64).to(device)
    q /= q.norm()
    basis = [q]
    diag: list[float] = []
    off: list[float] = []
    theta = float("nan")
    for k in range(max_iter):
        w = matvec(basis[-1]).to(torch.float64)
        diag.append(float(w @ basis[-1]))
        stacked = torch.stack(basis)
        for _ in range(2):  # twice is enough to keep the basis orthogonal to machine precision
            w = w - stacked.T @ (stacked @ w)
        tri = torch.diag(torch.tensor(diag, dtype=torch.float64))
        if off:
            sub = torch.tensor(off, dtype=torch.float64)
            tri += torch.diag(sub, 1) + torch.diag(sub, -1)
        previous, theta = theta, float(torch.linalg.eigvalsh(tri)[-1])
        beta = float(w.norm())
        scale = max(abs(d) for d in diag) or 1.0
        if beta <= 1e-10 * scale:
            return theta, k + 1, True
        if k > 0 and abs(theta - previous) <= tol * max(abs(theta), 1e-12):
            return theta, k + 1, True
        off.append(beta)
        basis.append(w / beta)
    return theta, max_iter, max_iter == n


def dominant_eigenvalue(
    net: nn.Module,
    batch: Batch | Sequence[Batch],
    mode: Mode = "exact",
    *,
    mixing: MixingFn | None = None,
    arch_weight_decay: float = 0.0,
    tol: float = 1e-3,
    max_iter: int | None = None,
    seed: int = 0,
) -> EigenResult:
    """max eigenvalue of ∇²_α L_valid (+ wd·I) on `batch` (or the mean loss over several batches).

    `mixing` is the method's `mixing_weights` (None: the supernet's softmax(α)); `seed` fixes the
    Lanczos start vector, so `fast` is deterministic.
    """
    start = time.perf_counter()
    if mode == "exact":
        hessian = alpha_hessian(net, batch, mixing=mixing, arch_weight_decay=arch_weight_decay)
        value = float(torch.linalg.eigvalsh(hessian.double())[-1])
        return EigenResult(value, mode, hessian.shape[0], True, time.perf_counter() - start)
    if mode != "fast":
        raise ValueError(f"eigenvalue mode must be 'exact' or 'fast', got {mode!r}")
    with _measurement(net):
        alphas, flat = _alpha_gradient(net, _as_batches(batch), mixing)

        def hvp(v: Tensor) -> Tensor:
            v = v.to(flat.dtype)
            return _second_derivative(flat, alphas, v).detach() + arch_weight_decay * v

        value, products, converged = lanczos_max_eigenvalue(
            hvp,
            flat.numel(),
            tol=tol,
            max_iter=max_iter,
            generator=torch.Generator().manual_seed(seed),
            device=flat.device,
        )
    return EigenResult(value, mode, products, converged, time.perf_counter() - start)


def _eigenvalue_batches(state: EpochState, count: int) -> list[Batch]:
    """The epoch's last `count` α batches (regenerated: batches are a pure function of seed and epoch)."""
    batches = state.method.batches
    if count == 1 or batches is None:
        return [state.last_valid_batch]
    steps = len(batches)
    start_step = max(0, steps - count)
    return [valid for _, valid in batches.epoch(state.epoch, start_step=start_step)]


@register_epoch_metric("eigenvalue")
def eigenvalue(state: EpochState) -> dict[str, Any]:
    """`eigenvalue` (None on epochs it is not due) and `eigenvalue_seconds`; details in provenance."""
    metrics = state.config.metrics
    mode = metrics.eigenvalue
    details: dict[str, Any] = {"mode": mode}
    if mode != "off":
        details.update(
            {
                "epochs": f"epoch % {metrics.eigenvalue_every} == 0 (0-based) and the last epoch "
                "(RobustDARTS train_search.py)",
                "batches": f"the epoch's last {metrics.eigenvalue_batches} α batch(es) (RobustDARTS: 1), mean loss",
                "network_mode": "train (batch-statistics BN, drop-path active), as RobustDARTS; BN buffers "
                "and RNG restored afterwards",
                "parameters": "concatenated α of every cell type, in the supernet's order",
                "diagonal": f"+ arch_weight_decay = {state.config.train.arch_weight_decay}",
                "mixing": "the method's mixing_weights()",
                "eigenvalue": "largest algebraic (RobustDARTS max(eigvals))",
                "algorithm": "dense Hessian by double backprop row by row, symmetrised, eigvalsh"
                if mode == "exact"
                else f"Lanczos on double-backprop Hessian-vector products, full reorthogonalisation, "
                f"stop at relative change of the largest Ritz value < {metrics.eigenvalue_tol}",
            }
        )
    state.provenance.setdefault("eigenvalue", details)
    due = state.epoch % metrics.eigenvalue_every == 0 or state.is_last_epoch
    if mode == "off" or not due or state.last_valid_batch is None:
        return {"eigenvalue": None, "eigenvalue_seconds": None}
    result = dominant_eigenvalue(
        state.method.net,
        _eigenvalue_batches(state, metrics.eigenvalue_batches),
        mode,
        mixing=state.method.mixing_weights,
        arch_weight_decay=state.config.train.arch_weight_decay,
        tol=metrics.eigenvalue_tol,
        seed=state.config.seed + state.epoch,
    )
    return {"eigenvalue": result.value, "eigenvalue_seconds": result.seconds}
