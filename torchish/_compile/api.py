"""The public ``torchish.compile`` entry point."""

from __future__ import annotations

from .compiled import Compiled


def compile(fn=None, *, fullgraph: bool = False, donate: bool = True, steps_per_call: int = 1,
            mode=None, dynamic=None, backend=None, options=None, disable: bool = False):
    """Run every call of ``fn`` as one XLA program, with all reachable state threaded through.

    ``fn`` is an ordinary PyTorch-style function (e.g. a training step that calls
    ``optimizer.zero_grad()``, ``loss.backward()``, ``optimizer.step()``); parameters, buffers,
    ``.grad``, optimizer and scheduler state and the random generator are found automatically
    and updated exactly as eager execution would update them.

    Args:
        fn: a function, or a Module (compiles its forward; see ``CompiledModule``).
        fullgraph: raise instead of falling back to eager execution when the function needs
            concrete values (``.item()``, ``if tensor:``).
        donate: donate the state buffers to XLA (updated in place, no copies).  Arrays held
            outside torchish's boxes that alias state are invalidated by this.
        steps_per_call: run K steps per call over arguments stacked on a leading axis of size K
            (``lax.scan``), returning stacked outputs: removes per-step dispatch cost.
        mode, dynamic, backend, options: accepted for ``torch.compile`` compatibility; ignored.
        disable: return ``fn`` unchanged.

    Example:
        >>> @torchish.compile
        ... def train_step(x, y):
        ...     optimizer.zero_grad()
        ...     loss = loss_fn(model(x), y)
        ...     loss.backward()
        ...     optimizer.step()
        ...     return loss
    """
    if fn is None:
        return lambda f: compile(f, fullgraph=fullgraph, donate=donate, steps_per_call=steps_per_call,
                                 mode=mode, dynamic=dynamic, backend=backend, options=options, disable=disable)
    if disable:
        return fn
    if hasattr(type(fn), "_torchish_state_") and hasattr(fn, "forward"):
        from .module import CompiledModule

        return CompiledModule(fn, fullgraph=fullgraph, donate=donate)
    if not callable(fn):
        raise TypeError(f"torchish.compile expected a function or a Module, got {type(fn).__name__}")
    return Compiled(fn, fullgraph=fullgraph, donate=donate, steps_per_call=steps_per_call)
