# Two commands set up everything on a fresh Debian/Ubuntu machine with Python >= 3.10 and gcc (the tests
# build PyRadiomics, the reference the native engine is compared with):
#   make demo   runs the per-patient MIRV pipeline on the bundled sample patient
#   make test   runs the whole test suite
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo-output

.PHONY: demo demo-dicom test test-matrix lint venv system-packages clean

# Offscreen rendering for the slicer-core tests needs EGL + Mesa; installed when we are root on Debian.
system-packages:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  if ! dpkg -s libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 >/dev/null 2>&1; then \
	    echo "Installing EGL/Mesa packages for offscreen rendering"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip setuptools wheel
	$(VPY) -m pip install -q -c Resources/constraints.txt -e '.[slicer,dask,dicom,pyradiomics,test,reference]'
	touch $(STAMP)

venv: system-packages $(STAMP)

demo: venv
	VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow $(VPY) MIRV/Scripts/MIRVDemo.py --out $(DEMO_OUT)

# The sample patient as a DICOM study (CT series, DICOM SEG, RTSTRUCT; deterministic), then `mirv extract` on it
demo-dicom: venv
	$(VPY) Resources/SampleData/make_sample_dicom.py --out $(DEMO_OUT)/sample-dicom
	$(VENV)/bin/mirv extract --image $(DEMO_OUT)/sample-dicom/CT --lesions $(DEMO_OUT)/sample-dicom/SEG \
	  --patient-id SAMPLE --out $(DEMO_OUT)/dicom/lesions.csv --dicom-out $(DEMO_OUT)/dicom --dicom-seed SAMPLE

test: venv
	VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow $(VPY) -m pytest -q

# Python 3.9 (Slicer 5.8) and 3.12 (Slicer 5.10 → main) from ~/.pyenv/versions, in venvs under .cache/matrix:
# MIRVLib's tests, an import of every module script, the wheel install. Slow (fresh environments): not in `make test`.
test-matrix: venv
	VTK_DEFAULT_OPENGL_WINDOW=vtkEGLRenderWindow $(VPY) -m pytest -m matrix -v -rs

# ruff (configured in pyproject.toml); CI runs it before the tests.
lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .cache $(DEMO_OUT)
