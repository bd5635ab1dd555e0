"""The wasmcloud-lattice policy pack (CrossGuard)."""
