//! kumo-api
