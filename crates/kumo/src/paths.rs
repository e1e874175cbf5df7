//! Where Kumo keeps its files when nothing says otherwise; shared by the server's configuration
//! and the CLI's credential lookup.

/// The data directory of `kumo serve`, and where the CLI looks for the generated credentials.
pub const DEFAULT_DATA_DIR: &str = "./kumo-data";
