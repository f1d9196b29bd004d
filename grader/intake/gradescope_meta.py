"""Gradescope's ``submission_metadata.yml``: who submitted each ``submission_<id>`` folder."""

from __future__ import annotations

import re

import yaml

MAX_METADATA_CHARS = 16 * 1024 * 1024  # a larger submission_metadata.yml is not read


class _MetadataLoader(yaml.SafeLoader):
    """``yaml.safe_load``'s loader, reading unknown tags (Ruby objects) as plain data."""


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> object:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_MetadataLoader.add_multi_constructor("!", _untagged)


def parse_gradescope_metadata(text: str) -> dict[str, dict[str, list[str]]]:
    """Submitter names, emails and SIDs per ``submission_<id>`` from a Gradescope export's YAML.

    Parsed with PyYAML's safe loader (no object construction; Ruby-symbol keys such as
    ``:name:`` read as strings). Text that is not YAML, or of another shape, gives no names.
    """
    if len(text) > MAX_METADATA_CHARS:
        return {}
    try:
        doc = yaml.load(text, Loader=_MetadataLoader)
    except yaml.YAMLError:
        return {}
    out: dict[str, dict[str, list[str]]] = {}
    for key, entry in (doc.items() if isinstance(doc, dict) else []):
        if not re.fullmatch(r"submission_\d+", str(key)) or not isinstance(entry, dict):
            continue
        fields = {str(k).lstrip(":"): v for k, v in entry.items()}
        submitters = fields.get("submitters")
        found = out.setdefault(str(key), {})
        for person in submitters if isinstance(submitters, list) else []:
            if not isinstance(person, dict):
                continue
            for k, v in person.items():
                name = str(k).lstrip(":")
                if name in ("name", "email", "sid") and v is not None and str(v).strip():
                    found.setdefault(name, []).append(str(v).strip())
    return out
