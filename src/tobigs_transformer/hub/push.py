"""Upload an exported folder (see `export.export_for_hub`) to the Hub, in one commit.

Without a network, in offline mode or without a valid token, `push_to_hub` raises `HubUploadError`, whose message says
that nothing was uploaded and where the local folder is: the export itself is never lost.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

from ..model.remote_code import missing_code_files
from ..tooling.output_folders import OUTPUT_MARKER

try:  # huggingface_hub >= 2 talks through httpx2; older versions through httpx
    import httpx2 as _httpx
except ImportError:  # pragma: no cover - depends on the installed huggingface_hub
    try:
        import httpx as _httpx
    except ImportError:
        _httpx = None

_NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, HfHubHTTPError, ValueError)
if _httpx is not None:
    _NETWORK_ERRORS += (_httpx.HTTPError,)


class HubUploadError(RuntimeError):
    """The upload did not happen; `folder` still holds the complete export."""

    def __init__(self, reason: str, folder: Path, repo_id: str):
        self.folder, self.repo_id = folder, repo_id
        super().__init__(
            f"Nothing was uploaded to {repo_id}: {reason}\n"
            f"The exported model is complete in the local folder {folder}; push it later with\n"
            f"  tobigs-export --from_folder {folder} --push_to_hub {repo_id}\n"
            f"or load it from there: pipeline(..., model={str(folder)!r}, trust_remote_code=True)"
        )


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    *,
    private: bool | None = None,
    commit_message: str = "Upload tobigs_transformer model",
    revision: str | None = None,
    api: HfApi | None = None,
) -> str:
    """Create `repo_id` if needed and upload exactly the files of `folder` (less the export's local record
    `.tobigs_output.json`) in one commit; returns the commit URL. A folder whose `config.json` points to code files it
    lacks is refused (`FileNotFoundError`) before anything is sent.

    `token` defaults to the logged-in token / `HF_TOKEN`. Raises `HubUploadError` (nothing uploaded) when offline
    (`HF_HUB_OFFLINE=1`), when the Hub cannot be reached, or when the Hub refuses the request (no or bad token).
    """
    folder = Path(folder).resolve()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not an exported model folder (no config.json); run export_for_hub first")
    missing = missing_code_files(folder, json.loads((folder / "config.json").read_text(encoding="utf-8")))
    if missing:
        raise FileNotFoundError(
            f"{folder}: config.json's auto_map/custom_pipelines point to {', '.join(missing)}, which the folder does "
            f"not hold; it would not load with trust_remote_code=True. Nothing was uploaded; re-export it with "
            f"export_for_hub (or save_pretrained with tobigs_transformer installed) first"
        )
    if _offline():
        raise HubUploadError("offline mode is enabled (HF_HUB_OFFLINE=1).", folder, repo_id)
    api = api or HfApi(token=token)
    try:
        api.create_repo(repo_id, token=token, private=private, repo_type="model", exist_ok=True)
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="model",
            token=token,
            commit_message=commit_message,
            revision=revision,
            ignore_patterns=[OUTPUT_MARKER],  # the local record of the export, not part of the model
        )
    except OfflineModeIsEnabled as error:
        raise HubUploadError(f"offline mode is enabled ({error}).", folder, repo_id) from error
    except _NETWORK_ERRORS as error:
        raise HubUploadError(f"{type(error).__name__}: {error}", folder, repo_id) from error
    return str(getattr(commit, "commit_url", commit))


__all__ = ["HubUploadError", "push_to_hub"]
