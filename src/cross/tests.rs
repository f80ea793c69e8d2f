//! Tests of the cross-resource index.
