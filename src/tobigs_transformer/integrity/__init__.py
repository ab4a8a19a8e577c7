"""Weight-file integrity shared by every loader (resume, ``tobigs-convert``, ``tobigs-export``).

Tooling: it may import the model, the model never imports it.  :mod:`.weights` hashes files and checks tensors
are finite, :mod:`.manifest` reads and writes the per-folder record of sizes and sha256s (a training checkpoint's
completion marker), :mod:`.loaded` checks a model loaded by ``from_pretrained`` before it is converted or exported.
"""

from .loaded import check_model_weights, source_folder
from .manifest import (
    MANIFEST_NAME,
    MalformedManifestError,
    build_manifest,
    read_manifest,
    verify_files,
    verify_recorded_weights,
    write_json_atomically,
)
from .weights import CorruptWeightsError, FileRecord, check_finite, scan_weight_file, sha256_file

__all__ = [
    "MANIFEST_NAME",
    "CorruptWeightsError",
    "FileRecord",
    "MalformedManifestError",
    "build_manifest",
    "check_finite",
    "check_model_weights",
    "read_manifest",
    "scan_weight_file",
    "sha256_file",
    "source_folder",
    "verify_files",
    "verify_recorded_weights",
    "write_json_atomically",
]
