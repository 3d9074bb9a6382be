"""Drift as JUnit XML, so CI systems show drift as failed tests: one test case per managed model
(a <failure> listing its drifted fields), and one per model no manifest declares (a <failure> with
--fail-on-unmanaged, else <skipped>)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from reconciler.drift.report import DriftReport
from reconciler.render.drift.phrases import lines, summary, undeclared_line

# XML 1.0 cannot carry most control characters, which a hand-edited registry value may hold.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def xml_text(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class JUnitDriftRenderer:
    name = "junit"

    def render(self, report: DriftReport) -> str:
        suites = ET.Element("testsuites", name="mlflow-gitops drift")
        managed = ET.SubElement(suites, "testsuite", name="managed models")
        failures = 0
        for model, items in report.by_model().items():
            case = ET.SubElement(managed, "testcase", classname="mlflow-gitops.drift", name=xml_text(model))
            if items:
                failures += 1
                noun = "field" if len(items) == 1 else "fields"
                failure = ET.SubElement(case, "failure", message=xml_text(f"{len(items)} {noun} drifted from git"),
                                        type="drift")
                failure.text = xml_text("\n".join(line for d in items for line in lines(d)))
        managed.set("tests", str(len(report.by_model())))
        managed.set("failures", str(failures))
        managed.set("errors", "0")
        managed.set("skipped", "0")

        undeclared = ET.SubElement(suites, "testsuite", name="models not declared in any manifest")
        failed = skipped = 0
        for u in report.undeclared:
            case = ET.SubElement(undeclared, "testcase", classname="mlflow-gitops.unmanaged", name=xml_text(u.name))
            message = xml_text(undeclared_line(u))
            if report.fail_on_unmanaged:
                failed += 1
                ET.SubElement(case, "failure", message=message, type="unmanaged")
            else:
                skipped += 1
                ET.SubElement(case, "skipped", message=message)
        undeclared.set("tests", str(len(report.undeclared)))
        undeclared.set("failures", str(failed))
        undeclared.set("errors", "0")
        undeclared.set("skipped", str(skipped))
        suites.set("tests", str(len(report.by_model()) + len(report.undeclared)))
        suites.set("failures", str(failures + failed))
        props = ET.SubElement(managed, "properties")
        ET.SubElement(props, "property", name="registry", value=xml_text(report.tracking_uri))
        ET.SubElement(props, "property", name="summary", value=xml_text(summary(report)))
        managed.insert(0, managed[-1])  # <properties> comes first, as JUnit readers expect
        del managed[-1]
        ET.indent(suites)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
