//! kumo-engine
