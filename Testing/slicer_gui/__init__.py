"""A widget test harness: stand-ins for Slicer's GUI layer over slicer-core's real MRML.

`harness.installed` puts small stand-ins for ``qt``, ``ctk``, ``slicer.app``, the qMRML widgets, ``slicer.i18n``,
``slicer.parameterNodeWrapper``, ``slicer.ScriptedLoadableModule`` and ``SampleData`` in place; Slicer's own
``slicer.util`` (from slicer-core) runs on top of them — ``loadUI`` reads the ``.ui`` XML through the stand-in
``qt.QUiLoader``, ``tryWithErrorDisplay``/``confirmOkCancelDisplay`` show their message boxes to the simulated
`user`. The MIRV module scripts are then imported as Slicer imports them, their widgets set up, and every button
handler driven while the logic works on real nodes. What is *not* exercised: Qt's rendering and event loop,
PythonQt's conversions, and Slicer's real parameterNodeWrapper and SampleData code (both are re-implemented here
from Slicer's source, see their modules).
"""
