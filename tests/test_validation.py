"""API misuse of the simulator is refused with a ValueError that names the argument and
the fix, instead of wrapping, truncating or reading past the end of an array."""

from __future__ import annotations

import numpy as np
import pytest

from neurochip.random_networks import random_description, random_inputs
from neurochip.sim import simulate
from neurochip.sim.simulator import encode_images


@pytest.fixture(scope="module")
def desc():
    return random_description(3, kinds=("fc",), events=0.0)  # pixels: events in test_event_input


@pytest.fixture(scope="module")
def images(desc):
    return random_inputs(3, 4, desc)


CALLS = {"simulate": lambda d, im, **kw: simulate(d, im, **kw),
         "encode_images": lambda d, im, **kw: encode_images(d, im, **kw)}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("indices, words", [
    (np.arange(3), ["indices has shape (3,)", "length 4"]),
    (np.arange(5), ["indices has shape (5,)", "length 4"]),
    (np.arange(4).reshape(2, 2), ["indices has shape (2, 2)", "1-D array of length 4"]),
    (np.array([0.0, 1.5, 2.0, 3.0]), ["indices has dtype float64", "integer"]),
    (np.array([0, 1, -2, 3]), ["indices hold -2", ">= 0"]),
    (np.array([0, 1, 2, 2**64 - 1], dtype=np.uint64), ["indices hold 18446744073709551615"]),
])
def test_bad_indices_are_refused(desc, images, call, indices, words):
    with pytest.raises(ValueError) as err:
        CALLS[call](desc, images, indices=indices)
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("call", CALLS)
def test_good_indices_of_any_integer_dtype_give_the_same_result(desc, images, call):
    a = CALLS[call](desc, images, indices=np.array([5, 6, 7, 8], np.int64))
    b = CALLS[call](desc, images, indices=np.array([5, 6, 7, 8], np.uint16))
    c = CALLS[call](desc, images, indices=[5, 6, 7, 8])
    if call == "simulate":
        a, b, c = a.counts, b.counts, c.counts
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def _with(images, dtype, value):
    out = images.astype(dtype)
    out[1, 2] = value
    return out


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("make, words", [
    (lambda im: _with(im, np.int64, 256), ["pixel value 256, outside 0 … 255"]),
    (lambda im: _with(im, np.int16, -1), ["pixel value -1, outside 0 … 255"]),
    (lambda im: _with(im, np.float32, 12.5), ["non-integer pixel value 12.5"]),
    (lambda im: _with(im, np.float64, np.nan), ["NaN or Inf"]),
    (lambda im: im.astype(np.float64) / 255, ["non-integer pixel value", "np.rint(x * 255)"]),
    (lambda im: im.astype(np.complex64), ["images has dtype complex64"]),
    (lambda im: im.astype(object), ["images has dtype object"]),
    (lambda im: im[0], ["images has shape", "batch of shape (n, ...)"]),
    (lambda im: im[:, :-1], ["pixels but the model's input.shape"]),
])
def test_bad_pixels_are_refused_not_wrapped(desc, images, call, make, words):
    with pytest.raises(ValueError) as err:
        CALLS[call](desc, make(images))
    for w in words:
        assert w in str(err.value)


@pytest.mark.parametrize("call", CALLS)
def test_lossless_pixel_dtypes_are_accepted(desc, images, call):
    ref = CALLS[call](desc, images)
    for other in (images.astype(np.int64), images.astype(np.float32), images.tolist()):
        got = CALLS[call](desc, other)
        if call == "simulate":
            ref_c, got_c = ref.counts, got.counts
        else:
            ref_c, got_c = ref, got
        np.testing.assert_array_equal(got_c, ref_c)


def test_empty_batch_and_bad_chunk_or_workers(desc):
    empty = np.zeros((0, desc.input_size), np.uint8)
    assert simulate(desc, empty).counts.shape == (0, desc.classes)
    assert encode_images(desc, empty).shape == (0, desc.time_steps, desc.input_size)
    img = np.zeros((1, desc.input_size), np.uint8)
    with pytest.raises(ValueError, match="chunk must be an integer >= 1, got 0"):
        simulate(desc, img, chunk=0)
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        simulate(desc, img, workers=0)
