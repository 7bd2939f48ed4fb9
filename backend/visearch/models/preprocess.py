"""Fast image preprocessing: resize/crop with PIL to uint8, normalise in torch in one step.

A checkpoint's image processor turns every image into float64/float32 arrays on one CPU
thread and copies float32 tensors to the device. ``ImageTransform`` splits that work:

- ``to_uint8(image)``: resize + crop with PIL (bit-identical to the processor's PIL backend),
  an ``(H, W, 3)`` uint8 array: 4x less memory to move, picklable, so decoding workers
  (threads or processes) can produce it while the model runs;
- ``normalise(batch)``: one fused ``x * a - b`` on the model's device and dtype (the GPU
  when there is one), from ``(N, H, W, 3)`` uint8 to ``(N, 3, H, W)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

_BICUBIC = int(Image.Resampling.BICUBIC)


@dataclass(frozen=True)
class ImageTransform:
    """Resize (shorter side, or to a fixed size), centre crop, rescale and normalise."""

    #: Resize so the shorter side is this long (aspect kept); exclusive with ``size``.
    shortest_edge: int | None = None
    #: Resize to exactly (height, width) (aspect not kept).
    size: tuple[int, int] | None = None
    #: Centre crop to (height, width) after resizing.
    crop: tuple[int, int] | None = None
    #: PIL resampling filter.
    resample: int = _BICUBIC
    #: How the longer side is computed: "floor" (transformers) or "round".
    rounding: str = "floor"
    #: Pixel value scale before normalising (1/255 for [0, 1] inputs).
    scale: float = 1 / 255
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if (self.shortest_edge is None) == (self.size is None):
            raise ValueError("give exactly one of shortest_edge and size")
        smallest = self.shortest_edge or min(self.size or (0, 0))
        if self.crop is not None and max(self.crop) > smallest:
            raise ValueError("the crop must fit in the resized image (no padding)")

    @property
    def output_size(self) -> tuple[int, int]:
        """(height, width) of ``to_uint8`` results."""
        if self.crop is not None:
            return self.crop
        if self.size is not None:
            return self.size
        raise ValueError("a shortest_edge resize without crop has no fixed output size")

    def resized_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) after the resize step."""
        if self.size is not None:
            return self.size[1], self.size[0]
        assert self.shortest_edge is not None
        short, long = (width, height) if width <= height else (height, width)
        edge = self.shortest_edge
        # The two conventions, computed exactly as their originals do (float order matters):
        # transformers' get_resize_output_image_size, and the offline model's to_pixels.
        if self.rounding == "round":
            new_long = max(edge, round(long * (edge / short)))
        else:
            new_long = int(edge * long / short)
        return (edge, new_long) if width <= height else (new_long, edge)

    def min_source_size(self, width: int, height: int) -> tuple[int, int]:
        """Smallest (width, height), same aspect, that still needs no upscaling: what a
        reduced-size JPEG decode (``Image.draft``) must at least deliver for this input."""
        out_w, out_h = self.resized_size(width, height)
        factor = max(out_w / width, out_h / height)
        return min(width, int(np.ceil(width * factor))), min(height, int(np.ceil(height * factor)))

    def to_uint8(self, image: Image.Image) -> np.ndarray:
        """Resized and cropped RGB pixels, shape (H, W, 3), dtype uint8."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        target = self.resized_size(*image.size)
        if target != image.size:
            image = image.resize(target, Image.Resampling(self.resample))
        if self.crop is not None:
            ch, cw = self.crop
            w, h = image.size
            top, left = (h - ch) // 2, (w - cw) // 2
            image = image.crop((left, top, left + cw, top + ch))
        return np.asarray(image, dtype=np.uint8)

    def stack(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(N, H, W, 3) uint8 batch."""
        return np.stack([self.to_uint8(im) for im in images]) if images else np.zeros(
            (0, *self.output_size, 3), np.uint8
        )

    def normalise(
        self, pixels: np.ndarray | torch.Tensor, device: str, dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """(N, H, W, 3) uint8 -> (N, 3, H, W) normalised, on ``device`` in ``dtype``.

        The uint8 batch travels to the device (a quarter of the float32 bytes) and the
        arithmetic happens there, in float32, before the cast to ``dtype``.
        """
        import torch  # here: decoding workers use this class without loading torch

        if dtype is None:
            dtype = torch.float32
        x = torch.as_tensor(pixels).to(device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float()
        std = torch.tensor(self.std, device=device).view(1, 3, 1, 1)
        mean = torch.tensor(self.mean, device=device).view(1, 3, 1, 1)
        x = x * (self.scale / std) - mean / std
        return x.to(dtype).contiguous()


def transform_from_processor(processor: Any) -> ImageTransform | None:
    """The ``ImageTransform`` equivalent to a transformers image processor, or None when it
    does anything else (padding, other resize modes, no normalisation...), in which case the
    processor itself must be used."""
    if type(processor).__name__ not in _KNOWN_PROCESSORS:
        return None
    def get(name: str, default: Any = None) -> Any:
        return getattr(processor, name, default)

    if not get("do_resize", False) or get("do_pad", False):
        return None
    size = _as_dict(get("size"))
    crop = _as_dict(get("crop_size")) if get("do_center_crop", False) else None
    mean = _triple(get("image_mean")) if get("do_normalize", False) else (0.0, 0.0, 0.0)
    std = _triple(get("image_std")) if get("do_normalize", False) else (1.0, 1.0, 1.0)
    scale = float(get("rescale_factor", 1 / 255)) if get("do_rescale", False) else 1.0
    if mean is None or std is None or size is None:
        return None
    resample = get("resample")
    resample = _BICUBIC if resample is None else int(resample)
    try:
        crop_hw = (int(crop["height"]), int(crop["width"])) if crop else None
        kwargs: dict[str, Any] = {"crop": crop_hw, "resample": resample, "scale": scale,
                                  "mean": mean, "std": std}
        if set(size) == {"shortest_edge"}:
            return ImageTransform(shortest_edge=int(size["shortest_edge"]), **kwargs)
        if set(size) == {"height", "width"}:
            return ImageTransform(size=(int(size["height"]), int(size["width"])), **kwargs)
    except (ValueError, KeyError):  # a crop larger than the resize (padding): not ours
        return None
    return None


#: Processors whose work is exactly resize + centre crop + rescale + normalise.
_KNOWN_PROCESSORS = frozenset({
    "CLIPImageProcessor", "CLIPImageProcessorPil", "CLIPImageProcessorFast",
    "SiglipImageProcessor", "SiglipImageProcessorPil", "SiglipImageProcessorFast",
})


def _as_dict(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # transformers' SizeDict
        return {k: v for k, v in dataclasses.asdict(value).items() if v is not None}
    return None


def _triple(value: Any) -> tuple[float, float, float] | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return (float(value),) * 3
    values = tuple(float(v) for v in value)
    return values if len(values) == 3 else None
