"""The CPU work of indexing one image, done ahead of the model by decoding workers.

``ImagePrep`` turns an image's bytes into everything the indexer needs besides the
embedding: the decoded size and format, the model's input as uint8 pixels (the model's
``image_transform``), and the encoded files (``ImageFiles.render``). It is picklable, so on
machines with enough cores it runs in a process pool (``decode_workers``); elsewhere on
threads (PIL releases the GIL while it decodes, resizes and encodes).

JPEGs are decoded at a reduced scale (PIL's ``draft``) when the stored file is the original
bytes: then only the thumbnails and the model input are made from the pixels, so the decode
stops at the size those need (the stored copy of larger images still gets
``stored_image_max_side``). The payload's width and height are always the image's own.
"""

from __future__ import annotations

import io
import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from visearch.ingest.decode import ImageDecoder
from visearch.ingest.files import ImageFiles, RenderedFiles
from visearch.models.preprocess import ImageTransform

_JPEG = ("JPEG", "MPO")
#: Below this many cores the model needs them all: decoding stays on threads.
MIN_CORES_FOR_PROCESSES = 4


@dataclass
class PreparedImage:
    """An image ready for the model and the files: no I/O left but writing."""

    format: str
    width: int
    height: int
    nbytes: int
    files: RenderedFiles
    #: ``(H, W, 3)`` uint8 model input, when the model has an ``image_transform``.
    pixels: np.ndarray | None = None
    #: The decoded image, only when there is no transform (``embed_images`` needs it).
    image: Image.Image | None = None


@dataclass(frozen=True)
class ImagePrep:
    """Decode, make the model input, render the files (see the module docstring)."""

    decoder: ImageDecoder
    files: ImageFiles
    transform: ImageTransform | None = None

    def decode_side(self, data: bytes) -> int | None:
        """The longer side to decode a JPEG at, when less than the decoder's own is needed."""
        if self.transform is None:
            return None
        try:
            with Image.open(io.BytesIO(data)) as header:  # reads the header only
                fmt, (width, height) = header.format, header.size
        except Exception:  # decode() reports what is wrong with it
            return None
        if fmt not in _JPEG or not self.files.keeps_original("jpeg", width, height):
            return None
        need = max(2 * self.files.thumbnail_size, *self.transform.min_source_size(width, height))
        return need if need < max(width, height) else None

    def __call__(self, data: bytes) -> PreparedImage:
        decoded = self.decoder.decode(data, max_side=self.decode_side(data))
        try:
            pixels = self.transform.to_uint8(decoded.image) if self.transform else None
            return PreparedImage(decoded.format, decoded.width, decoded.height, decoded.nbytes,
                                 self.files.render(data, decoded), pixels,
                                 None if self.transform else decoded.image)
        finally:
            if self.transform:
                decoded.image.close()

    def for_processes(self) -> ImagePrep:
        """A copy without the decode budget (a lock: each process bounds its own memory)."""
        return replace(self, decoder=replace(self.decoder, budget=None))


def decode_processes(setting: int, cores: int | None = None) -> int:
    """Processes for decoding: ``VISEARCH_DECODE_WORKERS``, or for -1 half the cores (the
    model takes the rest) on machines with at least ``MIN_CORES_FOR_PROCESSES``, else 0."""
    if setting >= 0:
        return setting
    cores = cores or os.cpu_count() or 1
    return cores // 2 if cores >= MIN_CORES_FOR_PROCESSES else 0


def process_pool(workers: int) -> Executor:
    """A pool of fresh interpreters (forkserver: never a fork of a process running torch
    threads); they import the decoding code only, not the model."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"))
