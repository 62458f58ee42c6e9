"""Write MIRV's bundled sample patient as a DICOM study: CT series, DICOM SEG and RTSTRUCT of its lesions.

Deterministic (UIDs derived from a fixed seed, fixed dates): re-running gives byte-identical files, so the
study is generated on demand (``make demo-dicom``, the DICOM tests) rather than committed. Needs the DICOM
extra (``pip install 'mirv[dicom]'``):

    python Resources/SampleData/make_sample_dicom.py --out demo-output/sample-dicom [--time-point followup]
"""

from __future__ import annotations

import argparse

from MIRVLib.dicom.sample_study import write_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for CT/, SEG/ and RTSTRUCT/")
    parser.add_argument("--time-point", choices=("baseline", "followup"), default="baseline")
    args = parser.parse_args()
    study = write_sample(args.out, args.time_point)
    print(f"CT series: {study.ct_folder}\nDICOM SEG: {study.seg}\nRTSTRUCT:  {study.rtstruct}")


if __name__ == "__main__":
    main()
