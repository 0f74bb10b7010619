//! Why a body could not be converted.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("the body is not UTF-8")]
    NotUtf8,
    #[error("malformed XML: {0}")]
    Xml(String),
    #[error("a DOCTYPE is not accepted")]
    DocType,
    #[error("undefined entity `&{0};`")]
    Entity(String),
    #[error("no root element")]
    NoRoot,
    #[error("content outside the root element")]
    Outside,
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("{0}")]
    Shape(String),
}

impl From<quick_xml::Error> for ConvertError {
    fn from(e: quick_xml::Error) -> Self {
        ConvertError::Xml(e.to_string())
    }
}

impl From<quick_xml::encoding::EncodingError> for ConvertError {
    fn from(_: quick_xml::encoding::EncodingError) -> Self {
        ConvertError::NotUtf8
    }
}

impl From<quick_xml::events::attributes::AttrError> for ConvertError {
    fn from(e: quick_xml::events::attributes::AttrError) -> Self {
        ConvertError::Xml(e.to_string())
    }
}
