"""The hermetic container lab: engine, images, topology, network, DNS and generated inventory."""
