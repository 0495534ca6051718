"""A seeded, realistic e-commerce shop to try segmint on.

``generate_shop(directory)`` writes a Segment-spec event feed, a customer
table, an orders table and the ground truth of five planted personas (the
case study's Loyal Buyers, Window Shoppers, Occasional Buyers, New Visitors
and Churned Customers); ``config_path()`` is the demo's ``segmint.yaml``,
which imports those files and defines the campaign segments.
"""

from __future__ import annotations

from pathlib import Path

from segmint.demo.generate import DEFAULT_NOW, DemoFiles, generate_shop
from segmint.demo.personas import PERSONA_NAMES


def config_path() -> Path:
    """The demo's configuration file, shipped inside the package."""
    return Path(__file__).with_name("segmint.yaml")


__all__ = ["DEFAULT_NOW", "PERSONA_NAMES", "DemoFiles", "config_path", "generate_shop"]
