//! Our issue categories as Open311 services: zh-CN names and English descriptions from the
//! domain vocabulary, keywords and a group per service, and the attributes a few services take.
//! Pure data and pure checks.

use super::error::Open311Error;
use gridwalk_domain::Category;
use std::collections::BTreeMap;

/// An attribute's datatype, as the spec names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Datatype {
    String,
    Number,
    Datetime,
    Text,
    SingleValueList,
    MultiValueList,
}

impl Datatype {
    pub fn code(self) -> &'static str {
        match self {
            Datatype::String => "string",
            Datatype::Number => "number",
            Datatype::Datetime => "datetime",
            Datatype::Text => "text",
            Datatype::SingleValueList => "singlevaluelist",
            Datatype::MultiValueList => "multivaluelist",
        }
    }
}

/// One attribute of a service definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub code: &'static str,
    pub datatype: Datatype,
    pub required: bool,
    /// The question, in Chinese (the spec's `description`).
    pub description: &'static str,
    pub datatype_description: &'static str,
    /// (key, name) pairs of a list attribute.
    pub values: &'static [(&'static str, &'static str)],
}

/// A service: one category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub category: Category,
    pub keywords: &'static str,
    pub group: &'static str,
    pub attributes: &'static [Attribute],
}

impl Service {
    pub fn code(&self) -> &'static str {
        self.category.code()
    }
    pub fn name(&self) -> &'static str {
        self.category.label_zh()
    }
    pub fn description(&self) -> &'static str {
        self.category.label_en()
    }
    /// Whether the service has a definition (the spec's `metadata`).
    pub fn metadata(&self) -> bool {
        !self.attributes.is_empty()
    }
}

const fn attr(
    code: &'static str,
    datatype: Datatype,
    required: bool,
    description: &'static str,
    datatype_description: &'static str,
    values: &'static [(&'static str, &'static str)],
) -> Attribute {
    Attribute { code, datatype, required, description, datatype_description, values }
}

const STREET_LIGHT: &[Attribute] =
    &[attr("pole_number", Datatype::String, false, "灯杆编号（杆身上的编号）", "The number painted on the pole", &[])];
const LEAK: &[Attribute] = &[
    attr(
        "leak_kind",
        Datatype::SingleValueList,
        true,
        "漏的是什么？",
        "What is leaking",
        &[("water", "自来水"), ("gas", "燃气"), ("heating", "暖气")],
    ),
    attr("floor", Datatype::Number, false, "楼层", "Floor number (negative for basements)", &[]),
];
const SANITATION: &[Attribute] = &[attr(
    "kinds",
    Datatype::MultiValueList,
    false,
    "问题类型（可多选）",
    "What kind of mess; several may apply",
    &[("garbage", "垃圾堆积"), ("debris", "建筑垃圾"), ("graffiti", "小广告涂鸦")],
)];
const LIFT: &[Attribute] = &[
    attr(
        "trapped",
        Datatype::SingleValueList,
        true,
        "是否有人被困？",
        "Is anyone trapped in the lift",
        &[("yes", "有人被困"), ("no", "无人被困")],
    ),
    attr("lift_number", Datatype::String, false, "电梯编号", "The lift's registration number", &[]),
];
const NOISE: &[Attribute] = &[
    attr("started_at", Datatype::Datetime, false, "噪声开始时间", "When the noise started (W3C datetime with timezone)", &[]),
    attr("details", Datatype::Text, false, "噪声来源说明", "Free text about the source of the noise", &[]),
];
const PARKING: &[Attribute] = &[attr("plate_number", Datatype::String, false, "车牌号", "Licence plate of the vehicle", &[])];

fn keywords_group_attributes(c: Category) -> (&'static str, &'static str, &'static [Attribute]) {
    match c {
        Category::StreetLight => ("路灯,照明,street light,lamp", "市政设施", STREET_LIGHT),
        Category::Sanitation => ("卫生,垃圾,脏乱,sanitation,litter", "市容环境", SANITATION),
        Category::Leak => ("漏水,燃气,暖气,跑冒滴漏,leak,gas,water", "市政设施", LEAK),
        Category::IllegalBuilding => ("违建,私搭乱建,illegal building", "城市管理", &[]),
        Category::WallBreaking => ("开墙打洞,wall", "城市管理", &[]),
        Category::PropertyManagement => ("物业,property", "社区服务", &[]),
        Category::ElderlyCare => ("养老,老人,elderly", "社区服务", &[]),
        Category::GarbageSorting => ("垃圾分类,recycling,garbage sorting", "市容环境", &[]),
        Category::Lift => ("电梯,困人,lift,elevator", "市政设施", LIFT),
        Category::Parking => ("停车,车位,parking", "城市管理", PARKING),
        Category::Noise => ("噪声,扰民,noise", "城市管理", NOISE),
        Category::Greening => ("绿化,树木,greening,trees", "市容环境", &[]),
        Category::Heating => ("供暖,暖气,heating", "市政设施", &[]),
        Category::Other => ("其他,other", "其他", &[]),
    }
}

pub fn service(c: Category) -> Service {
    let (keywords, group, attributes) = keywords_group_attributes(c);
    Service { category: c, keywords, group, attributes }
}

/// Every service, in the vocabulary's order.
pub fn all() -> Vec<Service> {
    Category::ALL.iter().map(|&c| service(c)).collect()
}

/// A service by its code, or 404.
pub fn by_code(code: &str) -> Result<Service, Open311Error> {
    Category::from_code(code).map(service).ok_or_else(|| Open311Error::UnknownService(code.to_owned()))
}

/// Most characters of one attribute value.
pub const MAX_ATTRIBUTE_CHARS: usize = 200;

/// Check the `attribute[CODE]` values of a request against its service: unknown codes, missing
/// required ones, list keys, numbers and datetimes. Returns the values in the service's order,
/// each as one line of text (a multi-value list joined with commas).
pub fn check_attributes(service: &Service, given: &BTreeMap<String, Vec<String>>) -> Result<Vec<(String, String)>, Open311Error> {
    if let Some(unknown) = given.keys().find(|k| !service.attributes.iter().any(|a| a.code == k.as_str())) {
        return Err(Open311Error::UnknownAttribute(unknown.clone()));
    }
    let mut out = Vec::new();
    for a in service.attributes {
        let values: Vec<&str> =
            given.get(a.code).map(|v| v.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect()).unwrap_or_default();
        if values.is_empty() {
            if a.required {
                return Err(Open311Error::MissingAttribute(a.code.to_owned()));
            }
            continue;
        }
        let bad = |reason: String| Open311Error::BadAttribute { code: a.code.to_owned(), reason };
        if a.datatype != Datatype::MultiValueList && values.len() > 1 {
            return Err(bad("takes one value".into()));
        }
        for v in &values {
            if v.chars().count() > MAX_ATTRIBUTE_CHARS {
                return Err(bad(format!("at most {MAX_ATTRIBUTE_CHARS} characters")));
            }
            if v.chars().any(char::is_control) {
                return Err(bad("control characters (including line breaks) are not allowed".into()));
            }
            match a.datatype {
                Datatype::Number if v.parse::<f64>().map_or(true, |n| !n.is_finite()) => return Err(bad(format!("{v:?} is not a number"))),
                Datatype::Datetime => {
                    super::w3c::parse(v, &format!("attribute[{}]", a.code))?;
                }
                Datatype::SingleValueList | Datatype::MultiValueList if !a.values.iter().any(|(k, _)| k == v) => {
                    let keys: Vec<&str> = a.values.iter().map(|(k, _)| *k).collect();
                    return Err(bad(format!("{v:?} is not one of {}", keys.join(", "))));
                }
                _ => {}
            }
        }
        out.push((a.code.to_owned(), values.join(",")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    #[test]
    fn every_category_is_a_service_and_metadata_means_attributes() {
        let all = all();
        assert_eq!(all.len(), Category::ALL.len(), "one service per category");
        for s in &all {
            assert_eq!(by_code(s.code()).unwrap(), *s, "a service is found by its code");
            assert_eq!(s.metadata(), !s.attributes.is_empty(), "metadata is true exactly for services with attributes");
            assert!(!s.keywords.is_empty() && !s.group.is_empty(), "{} has keywords and a group", s.code());
        }
        assert!(matches!(by_code("nope"), Err(Open311Error::UnknownService(_))), "an unknown code is an unknown service");
    }

    #[test]
    fn attribute_rules() {
        let leak = service(Category::Leak);
        assert_eq!(check_attributes(&leak, &given(&[("leak_kind", "gas")])).unwrap(), vec![("leak_kind".into(), "gas".into())]);
        assert!(matches!(check_attributes(&leak, &given(&[])), Err(Open311Error::MissingAttribute(_))), "a required attribute is required");
        assert!(
            matches!(check_attributes(&leak, &given(&[("leak_kind", "oil")])), Err(Open311Error::BadAttribute { .. })),
            "list keys only"
        );
        assert!(
            matches!(check_attributes(&leak, &given(&[("leak_kind", "gas"), ("floor", "二楼")])), Err(Open311Error::BadAttribute { .. })),
            "a number is a number"
        );
        assert!(
            matches!(check_attributes(&leak, &given(&[("leak_kind", "gas"), ("colour", "red")])), Err(Open311Error::UnknownAttribute(_))),
            "an attribute the service does not define is refused"
        );
        let mess = service(Category::Sanitation);
        assert_eq!(
            check_attributes(&mess, &given(&[("kinds", "garbage"), ("kinds", "graffiti")])).unwrap(),
            vec![("kinds".into(), "garbage,graffiti".into())],
            "a multi-value list keeps every value"
        );
        let noise = service(Category::Noise);
        assert!(check_attributes(&noise, &given(&[("started_at", "2025-10-09T22:00:00+08:00")])).is_ok());
        assert!(check_attributes(&noise, &given(&[("started_at", "昨晚")])).is_err(), "a datetime attribute is W3C");
        assert!(check_attributes(&noise, &given(&[("details", "a\nb")])).is_err(), "values are one line");
    }
}
