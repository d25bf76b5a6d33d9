//! CPPN
