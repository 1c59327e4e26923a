"""Packaging that pyproject.toml cannot say: the workbook templates ship inside the package.

The repository keeps them at its top (workbook_templates/, where people look for them); the wheel
carries them as crm_sheets/workbook_templates/*.yaml, which model/schema.py finds through
importlib.resources. One copy in git; tests/test_packaging.py builds and installs the wheel.
"""
from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["crm_sheets", "crm_sheets.*"]), "crm_sheets.workbook_templates"],
    package_dir={"crm_sheets.workbook_templates": "workbook_templates"},
    package_data={"crm_sheets.workbook_templates": ["*.yaml"]},
)
