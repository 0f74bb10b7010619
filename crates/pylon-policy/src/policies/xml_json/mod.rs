//! `xml-json`: convert request and response bodies between XML and JSON
//! (attributes as `@name`, text as `#text`, repeated elements as arrays), so
//! JSON clients can use XML services and the other way round.

mod config;
mod error;
mod policy;
#[cfg(test)]
mod tests;
mod to_json;
mod to_xml;

pub use config::{Direction, XmlJsonConfig};
pub use error::ConvertError;
pub use policy::{XmlJson, build};
pub use to_json::xml_to_json;
pub use to_xml::json_to_xml;
