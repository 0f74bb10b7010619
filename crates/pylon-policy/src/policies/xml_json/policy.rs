//! `xml-json` at run time: convert bodies of the matching content type and
//! set the new `Content-Type` and `Content-Length`.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::config::{Direction, XmlJsonConfig};
use super::error::ConvertError;
use super::to_json::xml_to_json;
use super::to_xml::json_to_xml;
use crate::body;
use crate::context::{PolicyCtx, RequestHead, ResponseHead};
use crate::error::PolicyError;
use crate::policy::{Policy, Reject, Step};
use crate::registry::BuildEnv;
use crate::util::parse_config;

const JSON: &str = "application/json";
const XML: &str = "application/xml; charset=utf-8";

pub struct XmlJson {
    request: Direction,
    response: Direction,
    root: Option<String>,
    max_depth: usize,
}

pub fn build(
    value: &serde_json::Value,
    _env: &BuildEnv<'_>,
) -> Result<Arc<dyn Policy>, PolicyError> {
    let cfg: XmlJsonConfig = parse_config(value)?;
    if cfg.request == Direction::None && cfg.response == Direction::None {
        return Err(PolicyError::config(
            "",
            "nothing to convert: set `request` or `response`",
        ));
    }
    if !(1..=128).contains(&cfg.max_depth) {
        return Err(PolicyError::config(
            "max_depth",
            "must be between 1 and 128",
        ));
    }
    if let Some(root) = &cfg.root {
        // The same rule the converter applies to element names.
        if json_to_xml(b"null", Some(root), 1).is_err() {
            return Err(PolicyError::config(
                "root",
                format!("`{root}` is not a valid XML element name"),
            ));
        }
    }
    Ok(Arc::new(XmlJson {
        request: cfg.request,
        response: cfg.response,
        root: cfg.root,
        max_depth: cfg.max_depth,
    }))
}

impl XmlJson {
    /// Whether `direction` applies to a message with these headers.
    fn applies(direction: Direction, headers: &HeaderMap) -> bool {
        body::is_identity(headers)
            && match direction {
                Direction::None => false,
                Direction::XmlToJson => body::is_xml(headers),
                Direction::JsonToXml => body::is_json(headers),
            }
    }

    /// Convert `input`; the new body and its content type.
    fn convert(
        &self,
        direction: Direction,
        input: &[u8],
    ) -> Result<(Bytes, &'static str), ConvertError> {
        match direction {
            Direction::XmlToJson => {
                let doc = xml_to_json(input, self.max_depth)?;
                Ok((doc.to_bytes(input.len()), JSON))
            }
            Direction::JsonToXml => {
                let xml = json_to_xml(input, self.root.as_deref(), self.max_depth)?;
                Ok((Bytes::from(xml), XML))
            }
            Direction::None => Err(ConvertError::Shape("no conversion configured".into())),
        }
    }
}

impl Policy for XmlJson {
    fn kind(&self) -> &'static str {
        "xml-json"
    }

    fn wants_request_body(&self, parts: &http::request::Parts) -> bool {
        Self::applies(self.request, &parts.headers)
    }

    fn wants_response_body(&self, parts: &http::response::Parts, _ctx: &PolicyCtx) -> bool {
        Self::applies(self.response, &parts.headers)
    }

    fn on_request<'a>(&'a self, req: &'a mut RequestHead, _ctx: &'a mut PolicyCtx) -> Step<'a> {
        if !Self::applies(self.request, &req.parts.headers) {
            return Step::next();
        }
        let Some(input) = req.body.as_ref().filter(|b| !b.is_empty()) else {
            return Step::next();
        };
        match self.convert(self.request, input) {
            Ok((out, content_type)) => {
                body::set_content_type(&mut req.parts.headers, content_type);
                body::replace(&mut req.parts.headers, &mut req.body, out);
                Step::next()
            }
            Err(e) => {
                let code = match self.request {
                    Direction::JsonToXml => "invalid_json_body",
                    _ => "invalid_xml_body",
                };
                Step::reject(Reject::new(
                    StatusCode::BAD_REQUEST,
                    code,
                    format!("the request body cannot be converted: {e}"),
                ))
            }
        }
    }

    fn on_response(&self, resp: &mut ResponseHead, _ctx: &mut PolicyCtx) -> Result<(), Reject> {
        if !Self::applies(self.response, &resp.parts.headers) {
            return Ok(());
        }
        let Some(input) = resp.body.as_ref().filter(|b| !b.is_empty()) else {
            return Ok(());
        };
        match self.convert(self.response, input) {
            Ok((out, content_type)) => {
                body::set_content_type(&mut resp.parts.headers, content_type);
                body::replace(&mut resp.parts.headers, &mut resp.body, out);
                Ok(())
            }
            Err(e) => {
                tracing::debug!(error = %e, "xml-json: upstream body not converted");
                Err(Reject::new(
                    StatusCode::BAD_GATEWAY,
                    "invalid_upstream_body",
                    "the upstream response body could not be converted",
                ))
            }
        }
    }
}
