"""Fixtures for transform tests."""
import cv2
import pytest
from tf_helpers import textured_image


@pytest.fixture
def jpeg_path(tmp_path):
    path = tmp_path / "person.jpg"
    cv2.imwrite(str(path), textured_image(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return path
