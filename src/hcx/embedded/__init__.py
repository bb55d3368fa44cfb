"""hcx in-process: the same exchange as ``hcx serve``, without the listener."""
