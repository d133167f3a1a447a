"""Everything that exists only while searching: mixed ops and cells, the supernet, the projection
(phase II) and the derivation of a genotype (Eq. 1)."""
