"""The quantization lab: the configured model measured at each precision."""
