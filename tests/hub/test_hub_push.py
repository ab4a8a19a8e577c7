"""push_to_hub: a mocked upload sends exactly the exported folder; offline and network failures say that nothing was
uploaded and where the local folder is. No network is used."""

from unittest import mock

import httpx2
import pytest
from huggingface_hub.errors import OfflineModeIsEnabled

import pipeline_support as support
from tobigs_transformer.hub import HubUploadError, export_for_hub, push_to_hub
from tobigs_transformer.hub import cli


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    model, tokenizer = support.gpt2_lm()
    return export_for_hub(model, tokenizer, tmp_path_factory.mktemp("push") / "gpt")


class RecordingApi:
    """Stands in for HfApi: records the calls and the files upload_folder would send."""

    def __init__(self):
        self.calls, self.sent = [], None

    def create_repo(self, repo_id, **kwargs):
        self.calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, folder_path, repo_id, **kwargs):
        from pathlib import Path

        self.calls.append(("upload_folder", repo_id, kwargs))
        self.sent = {p.relative_to(folder_path).as_posix(): p.read_bytes() for p in Path(folder_path).rglob("*")
                     if p.is_file()}
        return mock.Mock(commit_url=f"hub://{repo_id}/commit/1")


def test_push_sends_exactly_the_folder(folder, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    api = RecordingApi()
    with mock.patch("tobigs_transformer.hub.push.HfApi", return_value=api) as factory:
        url = push_to_hub(folder, "me/tobigs-gpt", token="hf_fake", private=True)
    factory.assert_called_once_with(token="hf_fake")
    assert url == "hub://me/tobigs-gpt/commit/1"
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][2]["exist_ok"] is True and api.calls[0][2]["private"] is True
    assert api.sent == {p.name: p.read_bytes() for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "README.md", "modeling_tobigs.py"} <= set(api.sent)


def test_offline_mode_uploads_nothing(folder, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with mock.patch("tobigs_transformer.hub.push.HfApi") as factory:
        with pytest.raises(HubUploadError) as error:
            push_to_hub(folder, "me/tobigs-gpt")
    factory.assert_not_called()
    message = str(error.value)
    assert "Nothing was uploaded" in message and str(folder.resolve()) in message and "offline" in message


@pytest.mark.parametrize(
    "failure",
    [httpx2.ConnectError("[Errno -2] Name or service not known"),
     OfflineModeIsEnabled("Cannot reach the Hub: offline mode is enabled"),
     ConnectionError("network unreachable")],
)
def test_network_errors_upload_nothing(folder, monkeypatch, failure):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    api = mock.Mock()
    api.create_repo.side_effect = failure
    with pytest.raises(HubUploadError, match="Nothing was uploaded") as error:
        push_to_hub(folder, "me/tobigs-gpt", api=api)
    api.upload_folder.assert_not_called()
    assert str(folder.resolve()) in str(error.value) and error.value.folder == folder.resolve()


def test_push_needs_an_export(tmp_path):
    with pytest.raises(FileNotFoundError, match="export_for_hub"):
        push_to_hub(tmp_path, "me/x")


def test_cli_push_offline_reports_and_keeps_folder(folder, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert cli.main(["--from_folder", str(folder), "--push_to_hub", "me/tobigs-gpt"]) == 1
    err = capsys.readouterr().err
    assert "Nothing was uploaded" in err and str(folder.resolve()) in err
    assert (folder / "model.safetensors").is_file()


def test_cli_push_with_mocked_hub(folder, monkeypatch, capsys):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    api = RecordingApi()
    with mock.patch("tobigs_transformer.hub.push.HfApi", return_value=api):
        assert cli.main(["--from_folder", str(folder), "--push_to_hub", "me/tobigs-gpt", "--token", "hf_fake"]) == 0
    assert set(api.sent) == {p.name for p in folder.iterdir()}
    assert "uploaded" in capsys.readouterr().out
