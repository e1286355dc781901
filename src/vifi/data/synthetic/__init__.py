"""The demo's stand-in for real data: the synthetic world (classes, rendering), the pinned-down video encoders,
and the `synthesize` and `stills` stages that write its datasets in their publishers' formats. Only demo mode
uses it; paper mode reads the same formats from downloaded files."""
