"""The HTML report, built only from the files of a run folder.

    build.py     build_report: the page, its navigation and the evidence gallery
    sections.py  one function per section; a new report section is a function here and an entry in SECTIONS
    plots.py     matplotlib figures as base64 PNG
"""
