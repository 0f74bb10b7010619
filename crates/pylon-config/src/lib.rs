//! Pylon's declarative configuration: the typed model, loading from YAML or JSON
//! with secret references, and validation that reports every problem with its
//! file, path and reason.
#![forbid(unsafe_code)]

pub mod envelope;
mod error;
mod load;
pub mod model;
mod model_ai;
mod model_cluster;
mod model_governance;
mod model_policy;
mod model_route;
pub mod sealing;
mod secret;
mod target;
mod validate;
mod validate_ai;
mod validate_cluster;
mod validate_governance;
mod validate_policy;

pub use error::{ConfigError, ConfigIssue};
pub use load::{
    ExtraCheck, from_document, from_document_keyed, from_document_with, load_file, load_file_with,
    load_str, load_str_with, parse_document,
};
pub use model::*;
pub use target::TargetAddr;
pub use validate::{check_template, validate};

/// The configuration `pylon serve` runs without `--config`: one HTTP listener on
/// 0.0.0.0:8080, the admin listener on 127.0.0.1:9080, and no routes.
pub fn embedded_default() -> Config {
    Config {
        listeners: vec![ListenerConfig {
            name: "default".into(),
            bind: "0.0.0.0:8080".into(),
            protocol: ListenerProtocol::Auto,
            tls: None,
            redirect_https_port: None,
            limits: ListenerLimits::default(),
        }],
        ..Config::default()
    }
}
