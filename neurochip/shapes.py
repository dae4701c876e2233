"""Stream shapes (§3): every stream of addresses (the input image, every layer's output)
has a shape (H, W, C), and the address of (y, x, c) is (y·W + x)·C + c, channel fastest."""

from __future__ import annotations

Shape = tuple[int, int, int]


def stream_shape(shape: tuple[int, ...]) -> Shape:
    """An ``input.shape`` as (H, W, C): [P] → (1, 1, P); [H, W] → (H, W, 1); [H, W, C]."""
    dims = tuple(int(d) for d in shape)
    if len(dims) == 1:
        return (1, 1, dims[0])
    if len(dims) == 2:
        return (dims[0], dims[1], 1)
    if len(dims) == 3:
        return dims  # type: ignore[return-value]
    raise ValueError(f"a stream shape has 1 to 3 dimensions, got {list(shape)}")


def size(shape: Shape) -> int:
    return shape[0] * shape[1] * shape[2]


def decode(address: int, shape: Shape) -> tuple[int, int, int]:
    """(y, x, c) of an address of a stream of ``shape``."""
    _, w, c = shape
    return address // (w * c), (address // c) % w, address % c
