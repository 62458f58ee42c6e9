"""Lesion sites stored on the segments as the tag ``Site``: saved in the .seg.nrrd, read back by Slicer and MIRVLib.

Needs only MRML/VTK, so the module's lesion list works before MIRVLib's dependencies are installed.
"""

from __future__ import annotations

import vtk

SITE_TAG = "Site"  # the segment tag MIRVLib.lesions reads from a .seg.nrrd
SITES = ("lung", "liver", "lymph node", "bone", "soft tissue", "peritoneum", "pleura", "adrenal", "other")


def segment_site(segmentation_node, segment_id: str) -> str:
    value = vtk.reference("")
    found = segmentation_node.GetSegmentation().GetSegment(segment_id).GetTag(SITE_TAG, value)
    return str(value) if found else ""


def set_segment_site(segmentation_node, segment_id: str, site: str) -> None:
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    if site:
        segment.SetTag(SITE_TAG, site)
    else:
        segment.RemoveTag(SITE_TAG)
