"""What the engine's instruments (engine/inspect) found, shown on the canvas and beside it: the node where a
NaN appeared, activation statistics, measured time and memory, feature maps and Grad-CAM. Everything here
only reads events and files of a run; torch is imported lazily, where a picture is computed."""
