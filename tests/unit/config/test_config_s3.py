"""The artifact store settings (issue 15)."""

from __future__ import annotations

import pytest

from somagent.config import load_settings
from somagent.exceptions import ConfigError


def test_s3_settings_and_endpoint() -> None:
    local = load_settings(s3_port=17171)
    assert local.s3_endpoint == "http://127.0.0.1:17171" and local.artifact_store == "s3"
    external = load_settings(s3_url="https://AK:SECRET@s3.example.test:9000/blobs")
    assert external.s3_endpoint == "https://s3.example.test:9000"
    with pytest.raises(ConfigError, match="SOMAGENT_S3_URL"):
        load_settings(s3_url="ftp://host/bucket")
    with pytest.raises(ConfigError, match="SOMAGENT_ARTIFACT_STORE"):
        load_settings(artifact_store="disk")
