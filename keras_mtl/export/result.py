"""`ExportResult`: what one export wrote and how it verified."""

import dataclasses
import pathlib
from typing import Any

from keras_mtl.export.verify import VerificationReport


@dataclasses.dataclass
class ExportResult:
    """One exported artifact.

    Attributes:
        path: The SavedModel folder or `.tflite` file.
        format: `"saved_model"` or `"tflite"`.
        quantization: None, `"dynamic"`, `"float16"` or `"int8"`.
        size_bytes: Size on disk.
        report: The verification report (None when `verify=False`).
    """

    path: pathlib.Path
    format: str
    quantization: str | None
    size_bytes: int
    report: VerificationReport | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "quantization": self.quantization,
            "size_bytes": self.size_bytes,
            "verification": (None if self.report is None
                             else self.report.to_dict()),
        }

    def __str__(self) -> str:
        head = (f"Exported {self.format} ({self.quantization or 'float32'})"
                f" to {self.path} [{self.size_bytes / 1024:.1f} KiB]")
        if self.report is None:
            return head + " (not verified)"
        report = self.report
        status = "verified" if report.passed else "FAILED"
        return "\n".join(
            [f"{head}, {status} on {report.num_samples} "
             f"{report.inputs_source} samples:"] + report.task_lines())
