//! Reference data shared by every form: Kazakhstan's 17 regions and 3 cities
//! of republican significance (as since 2022: Abai, Jetisu and Ulytau
//! included), their cities with OST sites, and `other`. Organisers extend the
//! list through the admin API (table `custom_places`).

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A name in the three interface languages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Names {
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    pub ru: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    pub kk: String,
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    pub en: String,
}

impl Names {
    pub fn get(&self, lang: &str) -> &str {
        match lang {
            "kk" => &self.kk,
            "en" => &self.en,
            _ => &self.ru,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct City {
    pub code: String,
    pub name: Names,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Region {
    pub code: String,
    pub name: Names,
    pub cities: Vec<City>,
}

/// The built-in list.
pub fn builtin() -> &'static [Region] {
    static LIST: OnceLock<Vec<Region>> = OnceLock::new();
    LIST.get_or_init(|| {
        serde_json::from_str(include_str!("../data/regions.json"))
            .expect("built-in regions.json is valid")
    })
}

/// Merges organiser-added places (region code, city code or "", names) into
/// the built-in list: a new region is appended; a city joins its region.
pub fn merged(custom: Vec<(String, String, Names)>) -> Vec<Region> {
    let mut list = builtin().to_vec();
    // Regions first, so a custom city can join a custom region.
    for (region, city, names) in custom.iter().filter(|c| c.1.is_empty()) {
        debug_assert!(city.is_empty());
        if !list.iter().any(|r| &r.code == region) {
            list.push(Region {
                code: region.clone(),
                name: names.clone(),
                cities: Vec::new(),
            });
        }
    }
    for (region, city, names) in custom.into_iter().filter(|c| !c.1.is_empty()) {
        if let Some(r) = list.iter_mut().find(|r| r.code == region)
            && !r.cities.iter().any(|c| c.code == city)
        {
            r.cities.push(City {
                code: city,
                name: names,
            });
        }
    }
    list
}

/// The built-in places merged with the ones organisers added
/// (`custom_places`): the reference list every form and filter uses.
pub async fn load(db: &sqlx::PgPool) -> sqlx::Result<Vec<Region>> {
    let custom: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT region_code, city_code, name_ru, name_kk, name_en FROM custom_places ORDER BY created_at",
    )
    .fetch_all(db)
    .await?;
    Ok(merged(
        custom
            .into_iter()
            .map(|(r, c, ru, kk, en)| (r, c, Names { ru, kk, en }))
            .collect(),
    ))
}

/// Whether (region, city) names a known place.
pub fn is_known(list: &[Region], region: &str, city: Option<&str>) -> bool {
    list.iter()
        .any(|r| r.code == region && city.is_none_or(|c| r.cities.iter().any(|x| x.code == c)))
}

/// A region code of the built-in list (organisers may have added more; see
/// `GET /api/v1/regions`).
#[derive(ToSchema)]
#[schema(as = RegionCode)]
#[allow(dead_code)]
#[serde(rename_all = "snake_case")]
pub enum RegionCode {
    Abai,
    Akmola,
    Aktobe,
    AlmatyRegion,
    Atyrau,
    EastKazakhstan,
    Jambyl,
    Jetisu,
    Karaganda,
    Kostanay,
    Kyzylorda,
    Mangystau,
    NorthKazakhstan,
    Pavlodar,
    Turkistan,
    Ulytau,
    WestKazakhstan,
    Astana,
    Almaty,
    Shymkent,
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_17_regions_3_cities_and_other() {
        let list = builtin();
        assert_eq!(list.len(), 21);
        for code in [
            "abai", "jetisu", "ulytau", "astana", "almaty", "shymkent", "other",
        ] {
            assert!(list.iter().any(|r| r.code == code), "{code}");
        }
        for (r, c) in [
            ("pavlodar", "ekibastuz"),
            ("east_kazakhstan", "ust_kamenogorsk"),
            ("abai", "semey"),
            ("karaganda", "temirtau"),
            ("west_kazakhstan", "uralsk"),
            ("jambyl", "taraz"),
        ] {
            assert!(is_known(list, r, Some(c)), "{r}/{c}");
        }
        assert!(!is_known(list, "pavlodar", Some("taraz")));
    }

    #[test]
    fn custom_places_merge() {
        let n = |s: &str| Names {
            ru: s.into(),
            kk: s.into(),
            en: s.into(),
        };
        let list = merged(vec![
            ("pavlodar".into(), "village_x".into(), n("X")),
            ("abroad".into(), "".into(), n("Abroad")),
            ("abroad".into(), "bishkek".into(), n("Bishkek")),
        ]);
        assert!(is_known(&list, "pavlodar", Some("village_x")));
        assert!(is_known(&list, "abroad", Some("bishkek")));
    }
}
