"""Synthetic travel data (customers, hotels, bookings, flights, consent) for demos and load tests.

The files match ``travel_model.yaml`` column for column. Everything is vectorised with numpy and
pyarrow and produced in fixed-size chunks of customers, so 10M customers (~50M bookings) fit in
constant memory. Each chunk draws from its own seeded stream, so the output depends only on
``seed``, ``customers``, ``dirty``, ``fmt`` and ``today``.

Output formats (what an ingester must accept):

* timestamps ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds); dates ``YYYY-MM-DD``;
* decimals with exactly two places, ``.`` as separator, no thousands separator (``1234.50``);
* integers as plain digits; there are no boolean fields;
* CSV: header row, ``,`` separator, ``\\n`` line ends, no quoting (no value contains ``,``,
  ``"`` or a newline), an empty cell is null; values are UTF-8 (names carry accents);
* JSON Lines: one object per row with every column; integers and decimals are JSON numbers,
  dates and timestamps JSON strings, nulls ``null``; in dirty files an injected bad integer or
  date is a JSON string such as ``"three"``;
* Parquet: int64, string, date32, timestamp[ms, UTC] (Parquet has no seconds unit) and
  decimal128(12, 2) columns; in dirty files the columns that carry injected bad values
  (customer.birth_date, hotel.stars, booking.check_in and nights, flight.departure_at and
  booking_id) are strings in the same text forms as the CSV.

With ``dirty=True`` each entity file gets about 0.75% extra rows, inserted near the row they
copy, and a ``_change_request_type`` column (``u``, ``d`` or an invalid value). The sidecar
``<entity>.expected_rejects.csv`` (``line,reason_kind``) lists every injected row. Kinds in
:data:`REJECT_KINDS` must be quarantined; ``stale`` rows (same key, older ``updated_at``) must be
skipped; ``delete`` rows (``d``, key and a newer ``updated_at``, other cells empty) delete a key
that appears earlier in the file. Clean rows are byte-for-byte the rows of the clean run.
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

Arr = npt.NDArray[Any]

FORMATS = ("csv", "parquet", "jsonl")
ENTITIES = ("customer", "hotel", "booking", "flight")

# Model fields in model order; tests check this against travel_model.yaml.
FIELDS: dict[str, dict[str, str]] = {
    "customer": {
        "customer_id": "integer",
        "email": "string",
        "phone": "string",
        "push_token": "string",
        "first_name": "string",
        "last_name": "string",
        "street": "string",
        "postal_code": "string",
        "city": "string",
        "country": "string",
        "time_zone": "string",
        "language": "string",
        "tier": "string",
        "birth_date": "date",
        "signup_date": "date",
        "updated_at": "timestamp",
    },
    "hotel": {
        "hotel_id": "integer",
        "name": "string",
        "city": "string",
        "country": "string",
        "stars": "integer",
    },
    "booking": {
        "booking_id": "integer",
        "customer_id": "integer",
        "hotel_id": "integer",
        "booked_at": "timestamp",
        "check_in": "date",
        "nights": "integer",
        "guests": "integer",
        "amount": "decimal",
        "currency": "string",
        "status": "string",
        "updated_at": "timestamp",
    },
    "flight": {
        "flight_id": "integer",
        "customer_id": "integer",
        "booking_id": "integer",
        "origin": "string",
        "destination": "string",
        "departure_at": "timestamp",
        "cabin": "string",
        "fare": "decimal",
        "status": "string",
        "updated_at": "timestamp",
    },
}
CONSENT_FIELDS: dict[str, str] = {
    "recipient": "integer",
    "channel": "string",
    "purpose": "string",
    "status": "string",
    "source": "string",
    "updated_at": "timestamp",
}
KEYS = {
    "customer": "customer_id",
    "hotel": "hotel_id",
    "booking": "booking_id",
    "flight": "flight_id",
}
VERSIONED = frozenset({"customer", "booking", "flight"})
CHANGE_COLUMN = "_change_request_type"

# Kinds of injected rows. An ingester must reject the REJECT_KINDS, skip "stale" rows (an older
# version of a key seen earlier) and apply "delete" rows.
KINDS = (
    "bad_email",
    "missing_key",
    "bad_date",
    "bad_integer",
    "bad_change_type",
    "stale",
    "delete",
)
REJECT_KINDS = frozenset(KINDS[:5])
EMAIL_RE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
SMS_RE = r"^\+?[0-9][0-9 ().-]{5,19}$"

# Customers per chunk: bounds memory (~5 bookings and ~3 flights per customer) and fixes the
# random streams, so changing it changes the output.
CHUNK_CUSTOMERS = 100_000

_ARROW_TYPES: dict[str, pa.DataType] = {
    "integer": pa.int64(),
    "string": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("s", tz="UTC"),
    "decimal": pa.decimal128(12, 2),
}
_DAY = 86_400
# Columns that receive text such as "three" or "2023-02-30" in dirty files.
_DIRTY_DATE = {"customer": "birth_date", "booking": "check_in", "flight": "departure_at"}
_DIRTY_INT = {"hotel": "stars", "booking": "nights", "flight": "booking_id"}
_REJECT_RATE = 0.0015  # per reject kind; four kinds per entity
_STALE_RATE = 0.001
_DELETE_RATE = 0.0005


# --------------------------------------------------------------------------------------------
# Reference data. Templates: '#' digit, 'N' digit 2-9, '@' capital letter.


@dataclass(frozen=True)
class _City:
    name: str
    tz: str
    iata: str
    postal: str
    weight: float
    language: str | None = None  # overrides the country's language
    phone: tuple[str, ...] = ()  # overrides the country's mobile templates (area codes)


@dataclass(frozen=True)
class _Country:
    code: str
    language: str
    region: str  # for flight fares: same country < same region < long haul
    currency: str  # currency hotels in this country charge in
    weight: float  # share of customers
    hotel_weight: float  # share of hotels
    phone: tuple[str, ...]
    domains: tuple[str, ...]
    number_first: bool  # "12 High Street" vs "Hauptstraße 12"
    streets: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    cities: tuple[_City, ...]


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(","))


# fmt: off
# CSV is written unquoted and JSON Lines without escaping: no text here may contain a comma, a
# double quote, a backslash or a newline (a unit test checks).
_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        code="FR", language="fr", region="EU", currency="EUR",
        weight=0.18, hotel_weight=14, number_first=True,
        phone=("+336########", "+337########"),
        domains=("orange.fr", "free.fr", "laposte.net", "sfr.fr"),
        streets=_names("rue de la République, avenue Victor Hugo, rue Nationale, boulevard Voltaire, "
                       "rue de la Paix, place de la Mairie, rue Pasteur, avenue Jean Jaurès"),
        first_names=_names("Jean, Marie, Pierre, Camille, Louis, Léa, Thomas, Chloé, Nicolas, Manon, "
                           "Julien, Inès, Hugo, Élodie, Antoine, Sophie"),
        last_names=_names("Martin, Bernard, Dubois, Thomas, Robert, Richard, Petit, Durand, Leroy, "
                          "Moreau, Simon, Laurent, Lefèvre, Michel, Fontaine, Rousseau"),
        cities=(
            _City("Paris", "Europe/Paris", "CDG", "750##", 5),
            _City("Lyon", "Europe/Paris", "LYS", "6900#", 2),
            _City("Marseille", "Europe/Paris", "MRS", "130##", 2),
            _City("Toulouse", "Europe/Paris", "TLS", "310##", 1.5),
            _City("Nice", "Europe/Paris", "NCE", "060##", 1.5),
            _City("Bordeaux", "Europe/Paris", "BOD", "330##", 1.2),
            _City("Lille", "Europe/Paris", "LIL", "590##", 1),
        ),
    ),
    _Country(
        code="DE", language="de", region="EU", currency="EUR",
        weight=0.14, hotel_weight=7, number_first=False,
        phone=("+49151########", "+49160########", "+49170########", "+49176########"),
        domains=("web.de", "gmx.de", "t-online.de"),
        streets=_names("Hauptstraße, Bahnhofstraße, Gartenstraße, Schulstraße, Dorfstraße, "
                       "Bergstraße, Lindenstraße, Kirchstraße"),
        first_names=_names("Lukas, Anna, Leon, Mia, Finn, Emma, Jonas, Hannah, Felix, Lena, Paul, "
                           "Sophie, Maximilian, Laura, Tim, Julia"),
        last_names=_names("Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker, Schulz,"
                          " Hoffmann, Koch, Richter, Klein, Wolf, Schröder, Neumann"),
        cities=(
            _City("Berlin", "Europe/Berlin", "BER", "10###", 4),
            _City("München", "Europe/Berlin", "MUC", "80###", 2.5),
            _City("Hamburg", "Europe/Berlin", "HAM", "20###", 2),
            _City("Frankfurt am Main", "Europe/Berlin", "FRA", "60###", 1.5),
            _City("Köln", "Europe/Berlin", "CGN", "50###", 1.5),
            _City("Düsseldorf", "Europe/Berlin", "DUS", "40###", 1),
        ),
    ),
    _Country(
        code="GB", language="en", region="EU", currency="GBP",
        weight=0.14, hotel_weight=8, number_first=True,
        phone=("+447#########",),
        domains=("btinternet.com", "yahoo.co.uk", "sky.com"),
        streets=_names("High Street, Station Road, Church Lane, Victoria Road, Park Avenue, Green "
                       "Lane, Manor Road, King Street"),
        first_names=_names("Oliver, Amelia, George, Isla, Harry, Ava, Jack, Emily, Charlie, Sophie, "
                           "Thomas, Grace, James, Olivia, William, Lily"),
        last_names=_names("Smith, Jones, Taylor, Brown, Williams, Wilson, Johnson, Davies, Robinson, "
                          "Wright, Thompson, Evans, Walker, White, Roberts, O'Brien"),
        cities=(
            _City("London", "Europe/London", "LHR", "SW# #@@", 5),
            _City("Manchester", "Europe/London", "MAN", "M## #@@", 1.5),
            _City("Birmingham", "Europe/London", "BHX", "B## #@@", 1.5),
            _City("Edinburgh", "Europe/London", "EDI", "EH# #@@", 1.2),
            _City("Glasgow", "Europe/London", "GLA", "G## #@@", 1),
            _City("Bristol", "Europe/London", "BRS", "BS# #@@", 0.8),
        ),
    ),
    _Country(
        code="US", language="en", region="NA", currency="USD",
        weight=0.16, hotel_weight=14, number_first=True,
        phone=("+1212N######",),
        domains=("aol.com", "comcast.net", "att.net"),
        streets=_names("Main Street, Oak Avenue, Maple Street, Park Avenue, Washington Boulevard, Elm"
                       " Street, Lake Drive, Sunset Boulevard"),
        first_names=_names("James, Mary, Michael, Jennifer, David, Linda, John, Jessica, Robert, "
                           "Ashley, Daniel, Sarah, Matthew, Emily, Christopher, Madison"),
        last_names=_names("Smith, Johnson, Williams, Brown, Jones, Garcia, Miller, Davis, Rodriguez, "
                          "Martinez, Anderson, Taylor, Thomas, Moore, Jackson, Lee"),
        cities=(
            _City("New York", "America/New_York", "JFK", "100##", 5,
                  phone=("+1212N######", "+1646N######", "+1917N######")),
            _City("Los Angeles", "America/Los_Angeles", "LAX", "900##", 3,
                  phone=("+1213N######", "+1310N######")),
            _City("Chicago", "America/Chicago", "ORD", "606##", 2.5, phone=("+1312N######",)),
            _City("Miami", "America/New_York", "MIA", "331##", 1.5, phone=("+1305N######",)),
            _City("San Francisco", "America/Los_Angeles", "SFO", "941##", 1.5,
                  phone=("+1415N######",)),
            _City("Denver", "America/Denver", "DEN", "802##", 1, phone=("+1303N######",)),
            _City("Seattle", "America/Los_Angeles", "SEA", "981##", 1, phone=("+1206N######",)),
            _City("Phoenix", "America/Phoenix", "PHX", "850##", 1, phone=("+1602N######",)),
        ),
    ),
    _Country(
        code="ES", language="es", region="EU", currency="EUR",
        weight=0.07, hotel_weight=12, number_first=False,
        phone=("+346########", "+347########"),
        domains=("telefonica.net", "yahoo.es"),
        streets=_names("Calle Mayor, Calle Real, Avenida de la Constitución, Calle del Sol, Gran Vía,"
                       " Paseo de la Castellana, Calle Nueva, Plaza Mayor"),
        first_names=_names("Hugo, Lucía, Martín, Sofía, Pablo, María, Alejandro, Paula, Daniel, "
                           "Valeria, Adrián, Carmen, Javier, Elena, Diego, Laura"),
        last_names=_names("García, Rodríguez, González, Fernández, López, Martínez, Sánchez, Pérez, "
                          "Gómez, Martín, Jiménez, Ruiz, Hernández, Díaz, Moreno, Álvarez"),
        cities=(
            _City("Madrid", "Europe/Madrid", "MAD", "280##", 4),
            _City("Barcelona", "Europe/Madrid", "BCN", "080##", 3.5),
            _City("Valencia", "Europe/Madrid", "VLC", "460##", 1.2),
            _City("Sevilla", "Europe/Madrid", "SVQ", "410##", 1.2),
            _City("Málaga", "Europe/Madrid", "AGP", "290##", 1),
            _City("Palma", "Europe/Madrid", "PMI", "070##", 1),
            _City("Las Palmas de Gran Canaria", "Atlantic/Canary", "LPA", "350##", 0.6),
        ),
    ),
    _Country(
        code="IT", language="it", region="EU", currency="EUR",
        weight=0.07, hotel_weight=12, number_first=False,
        phone=("+393#########",),
        domains=("libero.it", "virgilio.it", "tiscali.it"),
        streets=_names("Via Roma, Via Garibaldi, Via Mazzini, Corso Italia, Via Dante, Via Verdi, "
                       "Viale della Libertà, Via Cavour"),
        first_names=_names("Leonardo, Sofia, Francesco, Giulia, Alessandro, Aurora, Lorenzo, Alice, "
                           "Mattia, Ginevra, Andrea, Emma, Gabriele, Giorgia, Matteo, Chiara"),
        last_names=_names("Rossi, Russo, Ferrari, Esposito, Bianchi, Romano, Colombo, Ricci, Marino, "
                          "Greco, Bruno, Gallo, Conti, De Luca, Costa, Giordano"),
        cities=(
            _City("Roma", "Europe/Rome", "FCO", "001##", 4),
            _City("Milano", "Europe/Rome", "MXP", "201##", 3),
            _City("Napoli", "Europe/Rome", "NAP", "801##", 1.5),
            _City("Firenze", "Europe/Rome", "FLR", "501##", 1.5),
            _City("Venezia", "Europe/Rome", "VCE", "301##", 1.2),
            _City("Torino", "Europe/Rome", "TRN", "101##", 1),
        ),
    ),
    _Country(
        code="NL", language="nl", region="EU", currency="EUR",
        weight=0.05, hotel_weight=4, number_first=False,
        phone=("+316########",),
        domains=("ziggo.nl", "kpnmail.nl", "hetnet.nl"),
        streets=_names("Kerkstraat, Dorpsstraat, Schoolstraat, Molenstraat, Stationsweg, "
                       "Julianastraat, Nieuwstraat, Markt"),
        first_names=_names("Daan, Emma, Sem, Julia, Lucas, Mila, Levi, Tess, Finn, Sophie, Milan, "
                           "Zoë, Jesse, Sara, Bram, Anna"),
        last_names=_names("de Jong, Jansen, de Vries, van den Berg, van Dijk, Bakker, Janssen, "
                          "Visser, Smit, Meijer, de Boer, Mulder, de Groot, Bos, Vos, Peters"),
        cities=(
            _City("Amsterdam", "Europe/Amsterdam", "AMS", "10## @@", 4),
            _City("Rotterdam", "Europe/Amsterdam", "RTM", "30## @@", 2),
            _City("Den Haag", "Europe/Amsterdam", "RTM", "25## @@", 1.5),
            _City("Utrecht", "Europe/Amsterdam", "AMS", "35## @@", 1.2),
            _City("Eindhoven", "Europe/Amsterdam", "EIN", "56## @@", 1),
        ),
    ),
    _Country(
        code="BE", language="nl", region="EU", currency="EUR",
        weight=0.03, hotel_weight=2, number_first=False,
        phone=("+324########",),
        domains=("skynet.be", "telenet.be", "proximus.be"),
        streets=_names("Rue Neuve, Kerkstraat, Avenue Louise, Stationsstraat, Rue Royale, Grote "
                       "Markt, Chaussée de Wavre, Meir"),
        first_names=_names("Noah, Olivia, Arthur, Emma, Louis, Louise, Liam, Mila, Adam, Elena, "
                           "Jules, Marie, Lucas, Alice, Victor, Lina"),
        last_names=_names("Peeters, Janssens, Maes, Jacobs, Mertens, Willems, Claes, Goossens, "
                          "Wouters, De Smet, Dubois, Lambert, Dupont, Leclercq, Martin, Hermans"),
        cities=(
            _City("Bruxelles", "Europe/Brussels", "BRU", "10##", 4, language="fr"),
            _City("Antwerpen", "Europe/Brussels", "ANR", "20##", 2),
            _City("Gent", "Europe/Brussels", "BRU", "90##", 1.5),
            _City("Liège", "Europe/Brussels", "LGG", "40##", 1.2, language="fr"),
            _City("Brugge", "Europe/Brussels", "OST", "80##", 1),
        ),
    ),
    _Country(
        code="PT", language="pt", region="EU", currency="EUR",
        weight=0.02, hotel_weight=5, number_first=False,
        phone=("+3519########",),
        domains=("sapo.pt", "netcabo.pt"),
        streets=_names("Rua Augusta, Avenida da Liberdade, Rua do Carmo, Rua de Santa Catarina, Rua "
                       "Direita, Avenida da República, Rua da Prata, Rua Garrett"),
        first_names=_names("Francisco, Maria, Afonso, Leonor, João, Matilde, Tomás, Beatriz, Duarte, "
                           "Carolina, Santiago, Ana, Rodrigo, Inês, Miguel, Mariana"),
        last_names=_names("Silva, Santos, Ferreira, Pereira, Oliveira, Costa, Rodrigues, Martins, "
                          "Jesus, Sousa, Fernandes, Gonçalves, Gomes, Lopes, Marques, Alves"),
        cities=(
            _City("Lisboa", "Europe/Lisbon", "LIS", "1###-###", 4),
            _City("Porto", "Europe/Lisbon", "OPO", "4###-###", 2.5),
            _City("Faro", "Europe/Lisbon", "FAO", "8###-###", 1.2),
            _City("Funchal", "Atlantic/Madeira", "FNC", "9###-###", 0.8),
            _City("Ponta Delgada", "Atlantic/Azores", "PDL", "95##-###", 0.4),
        ),
    ),
    _Country(
        code="SE", language="sv", region="EU", currency="EUR",
        weight=0.02, hotel_weight=2, number_first=False,
        phone=("+467########",),
        domains=("telia.com", "bredband.net"),
        streets=_names("Storgatan, Drottninggatan, Kungsgatan, Skolgatan, Kyrkogatan, Järnvägsgatan, "
                       "Nygatan, Södra vägen"),
        first_names=_names("William, Alice, Liam, Maja, Noah, Elsa, Hugo, Astrid, Lucas, Wilma, "
                           "Oscar, Freja, Elias, Ebba, Axel, Ella"),
        last_names=_names("Andersson, Johansson, Karlsson, Nilsson, Eriksson, Larsson, Olsson, "
                          "Persson, Svensson, Gustafsson, Pettersson, Jonsson, Jansson, Hansson, "
                          "Bengtsson, Lindberg"),
        cities=(
            _City("Stockholm", "Europe/Stockholm", "ARN", "1## ##", 4),
            _City("Göteborg", "Europe/Stockholm", "GOT", "4## ##", 2),
            _City("Malmö", "Europe/Stockholm", "MMX", "2## ##", 1.5),
            _City("Uppsala", "Europe/Stockholm", "ARN", "75# ##", 1),
        ),
    ),
    _Country(
        code="PL", language="pl", region="EU", currency="EUR",
        weight=0.03, hotel_weight=3, number_first=False,
        phone=("+485########", "+486########", "+487########", "+488########"),
        domains=("wp.pl", "onet.pl", "interia.pl"),
        streets=_names("ul. Długa, ul. Polna, ul. Lipowa, ul. Leśna, ul. Słoneczna, ul. Kościuszki, "
                       "ul. Mickiewicza, ul. Marszałkowska"),
        first_names=_names("Jan, Zuzanna, Jakub, Julia, Antoni, Zofia, Szymon, Hanna, Filip, Maja, "
                           "Aleksander, Lena, Franciszek, Alicja, Mikołaj, Oliwia"),
        last_names=_names("Nowak, Kowalski, Wiśniewski, Wójcik, Kowalczyk, Kamiński, Lewandowski, "
                          "Zieliński, Szymański, Woźniak, Dąbrowski, Kozłowski, Jankowski, Mazur, "
                          "Krawczyk, Piotrowski"),
        cities=(
            _City("Warszawa", "Europe/Warsaw", "WAW", "0#-###", 4),
            _City("Kraków", "Europe/Warsaw", "KRK", "3#-###", 2.5),
            _City("Gdańsk", "Europe/Warsaw", "GDN", "80-###", 1.5),
            _City("Wrocław", "Europe/Warsaw", "WRO", "5#-###", 1.5),
            _City("Poznań", "Europe/Warsaw", "POZ", "6#-###", 1),
        ),
    ),
    _Country(
        code="CH", language="de", region="EU", currency="EUR",
        weight=0.02, hotel_weight=3, number_first=False,
        phone=("+4175#######", "+4176#######", "+4177#######", "+4178#######", "+4179#######"),
        domains=("bluewin.ch", "sunrise.ch"),
        streets=_names("Bahnhofstrasse, Hauptstrasse, Dorfstrasse, Kirchgasse, Seestrasse, "
                       "Marktgasse, Rue du Rhône, Rue du Marché"),
        first_names=_names("Noah, Mia, Liam, Emma, Matteo, Sofia, Luca, Lina, Leon, Mila, Elias, "
                           "Emilia, Gabriel, Lea, Louis, Alina"),
        last_names=_names("Müller, Meier, Schmid, Keller, Weber, Huber, Schneider, Meyer, Steiner, "
                          "Fischer, Gerber, Brunner, Baumann, Frei, Zimmermann, Moser"),
        cities=(
            _City("Zürich", "Europe/Zurich", "ZRH", "80##", 3),
            _City("Genève", "Europe/Zurich", "GVA", "12##", 2, language="fr"),
            _City("Basel", "Europe/Zurich", "BSL", "40##", 1.5),
            _City("Bern", "Europe/Zurich", "BRN", "30##", 1),
            _City("Lausanne", "Europe/Zurich", "GVA", "10##", 1, language="fr"),
        ),
    ),
    _Country(
        code="JP", language="ja", region="AS", currency="USD",
        weight=0.03, hotel_weight=6, number_first=False,
        phone=("+8190########", "+8180########", "+8170########"),
        domains=("yahoo.co.jp", "docomo.ne.jp", "ezweb.ne.jp"),
        streets=_names("Ginza 4-chome, Shibuya 2-chome, Umeda 1-chome, Sakae 3-chome, Namba 5-chome, "
                       "Tenjin 2-chome, Kawaramachi 1-chome, Odori 6-chome"),
        first_names=_names("Haruto, Yui, Sota, Hina, Yuto, Mei, Riku, Sakura, Ren, Aoi, Hinata, Yuna,"
                           " Kaito, Rin, Sora, Akari"),
        last_names=_names("Sato, Suzuki, Takahashi, Tanaka, Watanabe, Ito, Yamamoto, Nakamura, "
                          "Kobayashi, Kato, Yoshida, Yamada, Sasaki, Yamaguchi, Matsumoto, Inoue"),
        cities=(
            _City("Tokyo", "Asia/Tokyo", "HND", "1##-####", 5),
            _City("Osaka", "Asia/Tokyo", "KIX", "53#-####", 2.5),
            _City("Kyoto", "Asia/Tokyo", "KIX", "60#-####", 1.5),
            _City("Sapporo", "Asia/Tokyo", "CTS", "06#-####", 1),
            _City("Fukuoka", "Asia/Tokyo", "FUK", "81#-####", 1),
        ),
    ),
    _Country(
        code="BR", language="pt", region="SA", currency="USD",
        weight=0.02, hotel_weight=4, number_first=False,
        phone=("+55119########",),
        domains=("uol.com.br", "bol.com.br", "terra.com.br"),
        streets=_names("Rua das Flores, Avenida Paulista, Rua Augusta, Rua da Consolação, Avenida "
                       "Atlântica, Rua XV de Novembro, Avenida Brasil, Rua Oscar Freire"),
        first_names=_names("Miguel, Helena, Arthur, Alice, Gael, Laura, Heitor, Maria, Theo, "
                           "Valentina, Davi, Heloísa, Gabriel, Sophia, Bernardo, Manuela"),
        last_names=_names("Silva, Santos, Oliveira, Souza, Rodrigues, Ferreira, Alves, Pereira, Lima,"
                          " Gomes, Costa, Ribeiro, Martins, Carvalho, Almeida, Araújo"),
        cities=(
            _City("São Paulo", "America/Sao_Paulo", "GRU", "0####-###", 4,
                  phone=("+55119########",)),
            _City("Rio de Janeiro", "America/Sao_Paulo", "GIG", "2####-###", 3,
                  phone=("+55219########",)),
            _City("Brasília", "America/Sao_Paulo", "BSB", "70###-###", 1,
                  phone=("+55619########",)),
            _City("Salvador", "America/Bahia", "SSA", "40###-###", 1, phone=("+55719########",)),
            _City("Recife", "America/Recife", "REC", "50###-###", 0.8, phone=("+55819########",)),
            _City("Manaus", "America/Manaus", "MAO", "69###-###", 0.6, phone=("+55929########",)),
        ),
    ),
    _Country(
        code="AU", language="en", region="OC", currency="USD",
        weight=0.02, hotel_weight=4, number_first=True,
        phone=("+614########",),
        domains=("bigpond.com", "optusnet.com.au"),
        streets=_names("George Street, Collins Street, Queen Street, King Street, Elizabeth Street, "
                       "Bourke Street, Hay Street, Pitt Street"),
        first_names=_names("Oliver, Charlotte, Noah, Amelia, Jack, Olivia, William, Isla, Leo, Mia, "
                           "Lucas, Ava, Thomas, Grace, Henry, Chloe"),
        last_names=_names("Smith, Jones, Williams, Brown, Wilson, Taylor, Johnson, White, Martin, "
                          "Anderson, Thompson, Nguyen, Thomas, Walker, Harris, Lee"),
        cities=(
            _City("Sydney", "Australia/Sydney", "SYD", "2###", 4),
            _City("Melbourne", "Australia/Melbourne", "MEL", "3###", 3.5),
            _City("Brisbane", "Australia/Brisbane", "BNE", "4###", 2),
            _City("Perth", "Australia/Perth", "PER", "6###", 1.5),
            _City("Adelaide", "Australia/Adelaide", "ADL", "5###", 1),
        ),
    ),
)
# fmt: on

_GLOBAL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com")
_TIERS = ("basic", "silver", "gold", "platinum")
_TIER_P = (0.70, 0.20, 0.08, 0.02)
_STAR_P = (0.04, 0.12, 0.40, 0.34, 0.10)
_NIGHT_PRICE = np.array([0.0, 45.0, 70.0, 110.0, 180.0, 350.0])  # by stars
_CABINS = ("economy", "premium", "business", "first")
_CABIN_P = (0.80, 0.10, 0.08, 0.02)
_CABIN_FACTOR = np.array([1.0, 1.7, 3.6, 6.5])
_BOOKING_STATUS = ("confirmed", "cancelled", "completed")
_FLIGHT_STATUS = ("scheduled", "flown", "cancelled")
_CONSENT_SOURCES = ("signup_form", "preference_center", "checkout", "import")
_HOTEL_PREFIX = ("Grand Hotel", "Hotel", "Park Hotel", "Residence", "Boutique Hotel", "Palace")
_HOTEL_SUFFIX = (
    "Central",
    "Plaza",
    "Riverside",
    "Bellevue",
    "Harbour View",
    "Old Town",
    "Garden",
    "Station",
    "Royal",
    "Panorama",
    "Regent",
    "Lighthouse",
    "Cathedral",
    "Opera",
    "Marina",
    "Continental",
)
_BAD_DATES = ("2023-02-30", "2024-13-01", "2022-04-31", "2023-00-15", "2021-02-29")
_BAD_TIMESTAMPS = (
    "2024-02-30T08:15:00Z",
    "2024-13-01T10:00:00Z",
    "2023-04-31T22:40:00Z",
    "2025-06-15T25:10:00Z",
)
_BAD_INTEGERS = ("three", "two", "four", "twelve", "n/a")
_BAD_CHANGE_TYPES = ("x", "upsert", "delete", "insert", "?")
_TEMPLATE_ALPHABETS = {
    "#": b"0123456789",
    "N": b"23456789",
    "@": b"ABCDEFGHJKLMNPQRSTUVWXYZ",
}


def _ascii_slug(name: str) -> str:
    """Email-safe form of a name: 'Lefèvre' -> 'lefevre', "O'Brien" -> 'obrien'."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


class _Ref:
    """The reference lists flattened into lookup arrays, so rows only carry small integers."""

    def __init__(self) -> None:
        countries = _COUNTRIES
        self.country_code = pa.array([c.code for c in countries])
        self.country_p = _normalise([c.weight for c in countries])
        self.hotel_country_p = _normalise([c.hotel_weight for c in countries])
        self.country_number_first = np.array([c.number_first for c in countries])
        currencies = sorted({c.currency for c in countries})
        self.currency = pa.array(currencies)
        self.country_currency = np.array([currencies.index(c.currency) for c in countries])
        regions = sorted({c.region for c in countries})
        self.country_region = np.array([regions.index(c.region) for c in countries])

        cities = [(ci, city) for ci, c in enumerate(countries) for city in c.cities]
        self.city_country = np.array([ci for ci, _ in cities])
        self.city_name = pa.array([city.name for _, city in cities])
        self.city_tz = pa.array([city.tz for _, city in cities])
        self.city_language = pa.array(
            [city.language or countries[ci].language for ci, city in cities]
        )
        airports = sorted({city.iata for _, city in cities})
        self.airport = pa.array(airports)
        self.city_airport = np.array([airports.index(city.iata) for _, city in cities])
        self.postal_templates = [city.postal for _, city in cities]
        # Cumulative city weights laid out on [country, country + 1) so one searchsorted picks
        # a city inside each row's country.
        cdf = np.zeros(len(cities))
        for ci in range(len(countries)):
            mask = self.city_country == ci
            w = np.array([city.weight for _, city in cities])[mask]
            cdf[mask] = ci + np.cumsum(w) / w.sum()
        cdf[np.r_[np.diff(self.city_country) != 0, True]] = np.arange(1, len(countries) + 1)
        self.city_cdf = cdf

        phones = [city.phone or countries[ci].phone for ci, city in cities]  # per city: area codes
        self.phone_templates = sorted({t for ts in phones for t in ts})
        self.city_phone_start, self.city_phone_count, phone_ids = _ragged(
            [[self.phone_templates.index(t) for t in ts] for ts in phones]
        )
        self.city_phone_ids = np.array(phone_ids, dtype=np.int64)

        self.first_start, self.first_count, first = _ragged([c.first_names for c in countries])
        self.last_start, self.last_count, last = _ragged([c.last_names for c in countries])
        self.first_name = pa.array(first)
        self.last_name = pa.array(last)
        self.first_slug = pa.array([_ascii_slug(n) for n in first])
        self.first_initial = pa.array([_ascii_slug(n)[0] for n in first])
        self.last_slug = pa.array([_ascii_slug(n) for n in last])
        self.street_start, self.street_count, streets = _ragged([c.streets for c in countries])
        self.street = pa.array(streets)
        self.domain_start, self.domain_count, domains = _ragged([c.domains for c in countries])
        self.global_domains = len(_GLOBAL_DOMAINS)
        self.domain = pa.array(list(_GLOBAL_DOMAINS) + domains)


def _normalise(weights: Sequence[float]) -> Arr:
    w: Arr = np.asarray(weights, dtype=np.float64)
    total = float(w.sum())
    return w / total


def _ragged(groups: Sequence[Sequence[Any]]) -> tuple[Arr, Arr, list[Any]]:
    """Flatten groups; return each group's start and size and the flat list."""
    counts = np.array([len(g) for g in groups], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    return starts, counts, [x for g in groups for x in g]


@functools.cache
def _ref() -> _Ref:
    return _Ref()


# --------------------------------------------------------------------------------------------
# Vectorised building blocks.


def _pick(rng: np.random.Generator, start: Arr, count: Arr) -> Arr:
    """One uniform index per row inside that row's group [start, start + count)."""
    return start + (rng.random(len(start)) * count).astype(np.int64)


def _categorical(rng: np.random.Generator, p: Sequence[float] | Arr, n: int) -> Arr:
    cdf = np.cumsum(np.asarray(p, dtype=np.float64))
    return np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(n), side="right"), len(cdf) - 1)


class _Cdf:
    """Inverse-CDF lookups through a guide table: the same answer as
    ``min(searchsorted(cdf, x, "right"), len - 1)`` without a binary search over a large,
    cache-unfriendly array for every one of millions of rows."""

    def __init__(self, cdf: Arr) -> None:
        self.cdf = cdf
        self.top = float(cdf[-1])
        self.scale = 4 * len(cdf) / self.top
        starts = np.arange(4 * len(cdf) + 1) / self.scale
        self.guide = np.minimum(np.searchsorted(cdf, starts, side="right"), len(cdf) - 1)

    def find(self, x: Arr) -> Arr:
        last = len(self.cdf) - 1
        idx: Arr = self.guide[np.minimum((x * self.scale).astype(np.int64), len(self.guide) - 1)]
        # The guide points at or before the answer; step the few rows that lie further on.
        todo = np.nonzero((self.cdf[idx] <= x) & (idx < last))[0]
        while todo.size:
            idx[todo] += 1
            todo = todo[(self.cdf[idx[todo]] <= x[todo]) & (idx[todo] < last)]
        return idx


def _take(values: pa.Array, idx: Arr) -> pa.Array:
    return pc.take(values, pa.array(idx, type=pa.int64()))


def _join(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _render(rng: np.random.Generator, which: Arr, templates: Sequence[str]) -> pa.Array:
    """Fill per-row templates with random characters, building the string buffers directly."""
    n = len(which)
    width = max(len(t) for t in templates)
    codes = np.zeros((len(templates), width), dtype=np.uint8)
    for i, t in enumerate(templates):
        codes[i, : len(t)] = np.frombuffer(t.encode("ascii"), dtype=np.uint8)
    lens = np.array([len(t) for t in templates], dtype=np.int64)
    grid = codes[which]
    # Masks first: a generated capital 'N' must not be replaced again.
    masks = [(grid == ord(ch), np.frombuffer(a, np.uint8)) for ch, a in _TEMPLATE_ALPHABETS.items()]
    for mask, alphabet in masks:
        k = int(mask.sum())
        if k:
            grid[mask] = alphabet[rng.integers(0, len(alphabet), k)]
    row_len = lens[which]
    data = grid[np.arange(width) < row_len[:, None]]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(row_len, out=offsets[1:])
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


_HEX_PAIRS = np.frombuffer(
    "".join(f"{b:02x}" for b in range(256)).encode(), dtype=np.uint8
).reshape(256, 2)


def _hex_tokens(rng: np.random.Generator, n: int) -> pa.Array:
    """64-hex-digit device tokens (APNs style), two hex digits per random byte."""
    raw = np.frombuffer(rng.bytes(32 * n), dtype=np.uint8)
    data = _HEX_PAIRS[raw].reshape(-1)
    offsets = np.arange(0, 64 * (n + 1), 64, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _null_where(arr: pa.Array, mask: Arr) -> pa.Array:
    if not mask.any():
        return arr
    return pc.if_else(pa.array(mask), pa.scalar(None, arr.type), arr)


def _ts(secs: Arr) -> pa.Array:
    return pa.array(secs.astype(np.int64), type=_ARROW_TYPES["timestamp"])


def _date(days: Arr) -> pa.Array:
    return pa.array(days.astype(np.int32), type=pa.date32())


def _decimal(cents: Arr) -> pa.Array:
    """decimal128(12, 2) straight from integer cents (two little-endian int64 words)."""
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(_ARROW_TYPES["decimal"], len(cents), [None, pa.py_buffer(words)])


def _clip(x: Arr, lo: Arr | int, hi: Arr | int) -> Arr:
    return np.minimum(np.maximum(x, lo), hi)


def _latest_change(rng: np.random.Generator, created: Arr, now: int) -> Arr:
    """Per row, the latest time a clean row may have changed: during the day before yesterday
    (dirty deletes use the last day, so they are always newer) and never before ``created``."""
    return np.maximum(now - _DAY - rng.integers(0, _DAY, len(created)), created)


# --------------------------------------------------------------------------------------------
# Entities.


@dataclass
class _Customers:
    table: pa.Table
    ids: Arr
    country: Arr
    city: Arr
    signup_day: Arr
    has: dict[str, Arr]  # channel -> has an address


def _customers(rng: np.random.Generator, ids: Arr, today: int) -> _Customers:
    ref = _ref()
    n = len(ids)
    now = today * _DAY
    country = _categorical(rng, ref.country_p, n)
    city = np.minimum(
        np.searchsorted(ref.city_cdf, country + rng.random(n), side="right"), len(ref.city_cdf) - 1
    )
    first = _pick(rng, ref.first_start[country], ref.first_count[country])
    last = _pick(rng, ref.last_start[country], ref.last_count[country])

    # Email: a few local-part patterns, always ending in the id so it is unique.
    pattern = _categorical(rng, (0.45, 0.2, 0.2, 0.15), n)
    fs, ls = _take(ref.first_slug, first), _take(ref.last_slug, last)
    local = pc.choose(
        pa.array(pattern),
        _join(fs, ".", ls),
        fs,
        _join(_take(ref.first_initial, first), ".", ls),
        _join(fs, "_", ls),
    )
    global_domain = rng.random(n) < 0.7
    domain = np.where(
        global_domain,
        (rng.random(n) * ref.global_domains).astype(np.int64),
        ref.global_domains + _pick(rng, ref.domain_start[country], ref.domain_count[country]),
    )
    email = _join(local, pc.cast(pa.array(ids), pa.string()), "@", _take(ref.domain, domain))
    has_email = rng.random(n) < 0.97
    has_phone = rng.random(n) < 0.85
    has_push = rng.random(n) < 0.5
    phone_template = ref.city_phone_ids[
        _pick(rng, ref.city_phone_start[city], ref.city_phone_count[city])
    ]
    phone = _render(rng, phone_template, ref.phone_templates)
    push = _hex_tokens(rng, n)

    number = pc.cast(pa.array(np.minimum(rng.geometric(0.04, n), 250)), pa.string())
    street_name = _take(
        ref.street, _pick(rng, ref.street_start[country], ref.street_count[country])
    )
    street = pc.if_else(
        pa.array(ref.country_number_first[country]),
        _join(number, " ", street_name),
        _join(street_name, " ", number),
    )
    postal = _render(rng, city, ref.postal_templates)

    age_days = (np.clip(rng.normal(42, 15, n), 18.05, 89.95) * 365.25).astype(np.int64)
    # Signups lean recent (growth), none in the last two days.
    signup_day = today - 2 - (3650 * rng.random(n) ** 1.5).astype(np.int64)
    span = now - _DAY - signup_day * _DAY
    updated = signup_day * _DAY + (span * np.sqrt(rng.random(n))).astype(np.int64)

    cols: dict[str, pa.Array] = {
        "customer_id": pa.array(ids),
        "email": _null_where(email, ~has_email),
        "phone": _null_where(phone, ~has_phone),
        "push_token": _null_where(push, ~has_push),
        "first_name": _take(ref.first_name, first),
        "last_name": _take(ref.last_name, last),
        "street": street,
        "postal_code": postal,
        "city": _take(ref.city_name, city),
        "country": _take(ref.country_code, country),
        "time_zone": _take(ref.city_tz, city),
        "language": _take(ref.city_language, city),
        "tier": _take(pa.array(_TIERS), _categorical(rng, _TIER_P, n)),
        "birth_date": _date(today - age_days),
        "signup_date": _date(signup_day),
        "updated_at": _ts(updated),
    }
    return _Customers(
        table=pa.table(cols, schema=_schema("customer")),
        ids=ids,
        country=country,
        city=city,
        signup_day=signup_day,
        has={"email": has_email, "sms": has_phone, "push": has_push},
    )


@dataclass
class _Hotels:
    table: pa.Table
    country: Arr
    city: Arr
    stars: Arr
    global_cdf: _Cdf  # popularity over hotel index
    by_country: Arr  # hotel indexes sorted by country
    country_cdf: _Cdf  # popularity within country, laid out on [country, country + 1)
    has_country: Arr


def _hotel_count(customers: int) -> int:
    return int(min(max(customers // 100, 20), 50_000))


def _hotels(rng: np.random.Generator, count: int) -> _Hotels:
    ref = _ref()
    country = _categorical(rng, ref.hotel_country_p, count)
    city = np.minimum(
        np.searchsorted(ref.city_cdf, country + rng.random(count), side="right"),
        len(ref.city_cdf) - 1,
    )
    stars = 1 + _categorical(rng, _STAR_P, count)
    city_name = _take(ref.city_name, city)
    prefix = _take(pa.array(_HOTEL_PREFIX), rng.integers(0, len(_HOTEL_PREFIX), count))
    suffix = _take(pa.array(_HOTEL_SUFFIX), rng.integers(0, len(_HOTEL_SUFFIX), count))
    name = pc.choose(
        pa.array(_categorical(rng, (0.35, 0.25, 0.25, 0.15), count)),
        _join(prefix, " ", city_name),
        _join("Hotel ", suffix),
        _join(city_name, " ", suffix),
        _join("The ", suffix, " ", city_name),
    )
    # Zipf-like popularity: a few hotels take a large share of bookings.
    popularity = 1.0 / rng.permutation(np.arange(1, count + 1)) ** 0.6
    global_cdf = np.cumsum(popularity)
    global_cdf /= global_cdf[-1]
    by_country = np.argsort(country, kind="stable")
    sorted_country = country[by_country]
    country_cdf = np.zeros(count)
    has_country = np.zeros(len(_COUNTRIES), dtype=bool)
    for ci in np.unique(sorted_country):
        mask = sorted_country == ci
        c = np.cumsum(popularity[by_country][mask])
        country_cdf[mask] = ci + c / c[-1]
        has_country[ci] = True
    ids = np.arange(1, count + 1, dtype=np.int64)
    cols = {
        "hotel_id": pa.array(ids),
        "name": name,
        "city": city_name,
        "country": _take(ref.country_code, country),
        "stars": pa.array(stars.astype(np.int64)),
    }
    return _Hotels(
        pa.table(cols, schema=_schema("hotel")),
        country,
        city,
        stars,
        _Cdf(global_cdf),
        by_country,
        _Cdf(country_cdf),
        has_country,
    )


@dataclass
class _Bookings:
    table: pa.Table
    ids: Arr
    customer_row: Arr  # row of the customer in the chunk
    hotel: Arr
    booked_at: Arr
    check_in: Arr
    nights: Arr
    cancelled: Arr
    updated: Arr


def _bookings(
    rng: np.random.Generator, cust: _Customers, hotels: _Hotels, first_id: int, today: int
) -> _Bookings:
    ref = _ref()
    now = today * _DAY
    # Negative binomial with r=0.5: ~45% of customers have 0-1 bookings, a few have dozens.
    # The mean is 5 overall and scales with tenure over the two-year window, so recent signups
    # have fewer bookings instead of crowding them into their first weeks.
    tenure = np.clip((today - cust.signup_day) / 760, 0.05, 1.0)
    mean = 5.0 * tenure / tenure.mean()
    per_customer = np.minimum(rng.negative_binomial(0.5, 0.5 / (0.5 + mean)), 150)
    row = np.repeat(np.arange(len(cust.ids)), per_customer)
    n = len(row)
    ids = first_id + np.arange(n, dtype=np.int64)
    home = cust.country[row]

    # Hotel: 40% in the home country, otherwise anywhere; both weighted by popularity.
    pick = hotels.global_cdf.find(rng.random(n))
    local = hotels.by_country[hotels.country_cdf.find(home + rng.random(n))]
    use_local = (rng.random(n) < 0.4) & hotels.has_country[home] & (hotels.country[local] == home)
    hotel = np.where(use_local, local, pick)

    # Booked over the last ~2 years, more often lately (growth), never before signup; the stay
    # follows a lead time, so some stays are still ahead (up to a year).
    first_day = np.maximum(today - 760, cust.signup_day[row])
    booked_day = today - 2 - ((today - 2 - first_day) * rng.random(n) ** 1.15).astype(np.int64)
    booked = booked_day * _DAY + rng.integers(0, _DAY, n)
    lead = np.where(rng.random(n) < 0.6, rng.exponential(20, n), rng.exponential(100, n))
    check_in = booked_day + 1 + np.minimum(lead, 363).astype(np.int64)
    nights = np.minimum(rng.geometric(0.33, n), 14)
    guests = 1 + _categorical(rng, (0.3, 0.45, 0.1, 0.15), n)

    stars = hotels.stars[hotel]
    price = _NIGHT_PRICE[stars] * nights * (1 + 0.3 * (guests - 1)) * rng.lognormal(0, 0.2, n)
    cents = np.round(price * 100).astype(np.int64)
    currency = ref.country_currency[hotels.country[hotel]]

    check_out = check_in + nights
    cancelled = rng.random(n) < 0.08
    # A few past stays were never closed out and stay "confirmed".
    completed = ~cancelled & (check_out <= today) & (rng.random(n) < 0.98)
    status = np.where(cancelled, 1, np.where(completed, 2, 0))
    latest = _latest_change(rng, booked, now)
    updated = np.where(
        cancelled,
        booked + rng.random(n) * (np.minimum(check_in * _DAY, latest) - booked),
        np.where(
            completed,
            check_out * _DAY + rng.integers(0, 3 * _DAY, n),
            booked + rng.integers(0, 7200, n),
        ),
    ).astype(np.int64)
    updated = _clip(updated, booked, latest)

    cols = {
        "booking_id": pa.array(ids),
        "customer_id": pa.array(cust.ids[row]),
        "hotel_id": pa.array(hotel + 1),
        "booked_at": _ts(booked),
        "check_in": _date(check_in),
        "nights": pa.array(nights.astype(np.int64)),
        "guests": pa.array(guests.astype(np.int64)),
        "amount": _decimal(cents),
        "currency": _take(ref.currency, currency),
        "status": _take(pa.array(_BOOKING_STATUS), status),
        "updated_at": _ts(updated),
    }
    return _Bookings(
        pa.table(cols, schema=_schema("booking")),
        ids,
        row,
        hotel,
        booked,
        check_in,
        nights,
        cancelled,
        updated,
    )


def _flights(
    rng: np.random.Generator,
    cust: _Customers,
    hotels: _Hotels,
    bk: _Bookings,
    first_id: int,
    today: int,
) -> pa.Table:
    ref = _ref()
    now = today * _DAY
    home_city = cust.city[bk.customer_row]
    home_airport = ref.city_airport[home_city]
    hotel_airport = ref.city_airport[hotels.city[bk.hotel]]
    # ~42% of trips away from home fly; 55% of those fly back too: ~0.6 flights per booking.
    flies = (home_airport != hotel_airport) & (rng.random(len(bk.ids)) < 0.42)
    legs = np.where(flies, 1 + (rng.random(len(bk.ids)) < 0.55), 0)
    b = np.repeat(np.arange(len(bk.ids)), legs)
    n = len(b)
    # Leg 0 is the outbound flight, leg 1 the return.
    leg = np.arange(n) - np.repeat(np.cumsum(legs) - legs, legs)
    back = leg == 1
    origin = np.where(back, hotel_airport[b], home_airport[b])
    destination = np.where(back, home_airport[b], hotel_airport[b])

    day = np.where(back, bk.check_in[b] + bk.nights[b], bk.check_in[b] - (rng.random(n) < 0.2))
    departure = day * _DAY + 300 * rng.integers(6 * 12, 22 * 12, n)
    departure = np.maximum(departure, bk.booked_at[b] + 3 * 3600)
    cabin = _categorical(rng, _CABIN_P, n)

    home_country = ref.city_country[home_city[b]]
    hotel_country = hotels.country[bk.hotel[b]]
    same_region = ref.country_region[home_country] == ref.country_region[hotel_country]
    base = np.where(home_country == hotel_country, 110.0, np.where(same_region, 170.0, 650.0))
    fare = base * _CABIN_FACTOR[cabin] * rng.lognormal(0, 0.25, n)

    cancelled = bk.cancelled[b] | (rng.random(n) < np.where(departure < now, 0.02, 0.01))
    status = np.where(cancelled, 2, np.where(departure < now, 1, 0))
    latest = _latest_change(rng, bk.booked_at[b], now)
    updated = np.where(
        cancelled,
        np.where(bk.cancelled[b], bk.updated[b], departure - rng.integers(3600, 5 * _DAY, n)),
        np.where(
            departure < now,
            departure + rng.integers(2 * 3600, 30 * 3600, n),
            bk.booked_at[b] + rng.integers(0, 7200, n),
        ),
    )
    updated = _clip(updated, bk.booked_at[b], latest)
    cols = {
        "flight_id": pa.array(first_id + np.arange(n, dtype=np.int64)),
        "customer_id": pa.array(cust.ids[bk.customer_row[b]]),
        "booking_id": pa.array(bk.ids[b]),
        "origin": _take(ref.airport, origin),
        "destination": _take(ref.airport, destination),
        "departure_at": _ts(departure),
        "cabin": _take(pa.array(_CABINS), cabin),
        "fare": _decimal(np.round(fare * 100).astype(np.int64)),
        "status": _take(pa.array(_FLIGHT_STATUS), status),
        "updated_at": _ts(updated),
    }
    return pa.table(cols, schema=_schema("flight"))


def _consent(rng: np.random.Generator, cust: _Customers, today: int) -> pa.Table:
    n = len(cust.ids)
    now = today * _DAY
    channels = ("email", "sms", "push")
    # (has a record | has the address, granted | record): ~70% / 40% / 30% of customers granted.
    rates = {"email": (0.93, 0.78), "sms": (0.8, 0.6), "push": (0.9, 0.67)}
    exists = np.stack([cust.has[c] & (rng.random(n) < rates[c][0]) for c in channels], axis=1)
    granted = np.stack([rng.random(n) < rates[c][1] for c in channels], axis=1)
    source = np.stack(
        [
            _categorical(rng, (0.5, 0.25, 0.2, 0.05), n),
            _categorical(rng, (0.5, 0.25, 0.2, 0.05), n),
            np.full(n, len(_CONSENT_SOURCES)),  # push opt-ins come from the app
        ],
        axis=1,
    )
    span = now - _DAY - cust.signup_day * _DAY
    updated = np.stack(
        [cust.signup_day * _DAY + (span * rng.random(n)).astype(np.int64) for _ in channels],
        axis=1,
    )
    # Row-major flattening keeps rows ordered by recipient, then channel.
    row, ch = np.nonzero(exists)
    m = len(row)
    cols = {
        "recipient": pa.array(cust.ids[row]),
        "channel": _take(pa.array(channels), ch),
        "purpose": pa.repeat("marketing", m),
        "status": _take(pa.array(["denied", "granted"]), granted[row, ch].astype(np.int64)),
        "source": _take(pa.array([*_CONSENT_SOURCES, "mobile_app"]), source[row, ch]),
        "updated_at": _ts(updated[row, ch]),
    }
    return pa.table(cols, schema=_consent_schema())


def _schema(entity: str) -> pa.Schema:
    return pa.schema([(name, _ARROW_TYPES[t]) for name, t in FIELDS[entity].items()])


def _consent_schema() -> pa.Schema:
    return pa.schema([(name, _ARROW_TYPES[t]) for name, t in CONSENT_FIELDS.items()])


# --------------------------------------------------------------------------------------------
# Dirty rows.


@dataclass
class _Injected:
    table: pa.Table  # native rows plus the injected ones, with the change-type column
    overrides: dict[str, pa.Array]  # column -> bad text (null where the value is fine)
    positions: Arr  # 0-based row positions of injected rows in `table`, ascending
    kinds: Arr  # index into KINDS of each injected row, same order


def _inject(
    rng: np.random.Generator, entity: str, table: pa.Table, *, first: bool, today: int
) -> _Injected:
    n = table.num_rows
    kinds = [
        kind
        for kind in KINDS
        if kind in ("missing_key", "bad_change_type", "delete")
        or (kind == "bad_email" and entity == "customer")
        or (kind == "bad_date" and entity in _DIRTY_DATE)
        or (kind == "bad_integer" and entity in _DIRTY_INT)
        or (kind == "stale" and entity in VERSIONED)
    ]
    rate = {"stale": _STALE_RATE, "delete": _DELETE_RATE}
    # At least one of each kind in the first chunk so small files show every case.
    counts = [max(int(first), round(rate.get(kind, _REJECT_RATE) * n)) for kind in kinds]
    kind_of = np.repeat([KINDS.index(kind) for kind in kinds], counts)[:n].astype(np.int64)
    k = len(kind_of)
    src = rng.choice(n, size=k, replace=False) if k else np.zeros(0, dtype=np.int64)

    def is_kind(name: str) -> Arr:
        return np.asarray(kind_of == KINDS.index(name), dtype=bool)

    extra = table.take(pa.array(src, type=pa.int64()))
    cols = {name: extra.column(name).combine_chunks() for name in extra.column_names}
    key = KEYS[entity]
    delete = is_kind("delete")
    crt = pc.if_else(
        pa.array(is_kind("bad_change_type")),
        _take(pa.array(_BAD_CHANGE_TYPES), rng.integers(0, len(_BAD_CHANGE_TYPES), k)),
        pc.if_else(pa.array(delete), "d", "u"),
    )
    cols[key] = _null_where(cols[key], is_kind("missing_key"))
    if entity == "customer":
        cols["email"] = pc.if_else(
            pa.array(is_kind("bad_email")), _broken_emails(rng, cols), cols["email"]
        )
    if entity in VERSIONED:
        stale = is_kind("stale")
        upd = np.asarray(pc.cast(cols["updated_at"], pa.int64()).to_numpy(zero_copy_only=False))
        upd = np.where(stale, upd - rng.integers(3600, 60 * _DAY, k), upd)
        # Deletes are newer than every clean row (those end a day before `today`).
        upd = np.where(delete, today * _DAY - rng.integers(1, _DAY, k), upd)
        cols["updated_at"] = _ts(upd)
        tweak, value = {
            "customer": ("tier", "basic"),
            "booking": ("status", "confirmed"),
            "flight": ("status", "scheduled"),
        }[entity]
        cols[tweak] = pc.if_else(pa.array(stale), value, cols[tweak])
    for name in FIELDS[entity]:
        if name not in (key, "updated_at"):
            cols[name] = _null_where(cols[name], delete)

    overrides: dict[str, pa.Array] = {}
    if entity in _DIRTY_DATE:
        column = _DIRTY_DATE[entity]
        bad = _BAD_TIMESTAMPS if FIELDS[entity][column] == "timestamp" else _BAD_DATES
        overrides[column] = _null_where(
            _take(pa.array(bad), rng.integers(0, len(bad), k)), ~is_kind("bad_date")
        )
    if entity in _DIRTY_INT:
        overrides[_DIRTY_INT[entity]] = _null_where(
            _take(pa.array(_BAD_INTEGERS), rng.integers(0, len(_BAD_INTEGERS), k)),
            ~is_kind("bad_integer"),
        )

    # Bad copies land just after their source row; stale versions and deletes a bit later,
    # so they always follow the row they refer to.
    # Offsets scale down for small tables so injected rows do not pile up at the end.
    later = np.where(
        delete,
        rng.integers(1, min(2000, n // 2 + 2), k),
        np.where(
            is_kind("stale"),
            rng.integers(1, min(200, n // 5 + 2), k),
            rng.integers(0, min(50, n // 10 + 1), k),
        ),
    )
    slot = np.minimum(src + later, n - 1)
    order = np.argsort(np.concatenate([2 * np.arange(n), 2 * slot + 1]), kind="stable")
    position = np.empty(n + k, dtype=np.int64)
    position[order] = np.arange(n + k)
    take = pa.array(order, type=pa.int64())

    extra_table = pa.table({**cols}, schema=table.schema)
    merged = pa.concat_tables([table, extra_table]).take(take).combine_chunks()
    merged = merged.append_column(
        CHANGE_COLUMN, pc.take(pa.concat_arrays([pa.repeat("u", n), crt]), take)
    )
    merged_overrides = {
        c: pc.take(pa.concat_arrays([pa.nulls(n, pa.string()), ov]), take)
        for c, ov in overrides.items()
    }
    extra_pos = position[n:]
    ranked = np.argsort(extra_pos, kind="stable")
    return _Injected(merged, merged_overrides, extra_pos[ranked], kind_of[ranked])


def _broken_emails(rng: np.random.Generator, cols: dict[str, pa.Array]) -> pa.Array:
    """Addresses that fail the email rule in the ways real feeds do."""
    k = len(cols["first_name"])
    first = pc.utf8_lower(cols["first_name"])
    last = pc.utf8_lower(cols["last_name"])
    base = _join(first, ".", last)
    domain_idx = rng.integers(0, len(_GLOBAL_DOMAINS), k)
    domain = _take(pa.array(_GLOBAL_DOMAINS), domain_idx)
    bare = _take(pa.array([d.split(".")[0] for d in _GLOBAL_DOMAINS]), domain_idx)
    return pc.choose(
        pa.array(rng.integers(0, 5, k)),
        _join(base, "@"),  # jean.dupont@
        _join(base, ".", domain),  # no at sign
        _join(base, "@", bare),  # no dot in the domain
        _join(first, " ", last, "@", domain),  # a space
        _join(base, "@@", domain),
    )


# --------------------------------------------------------------------------------------------
# Formatting and writing.


def _text(arr: pa.Array, kind: str) -> pa.Array:
    """The CSV / JSON text of a native column."""
    if kind == "timestamp":
        return _iso_timestamp(arr)
    if kind == "string":
        return arr
    return pc.cast(arr, pa.string())


def _iso_timestamp(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """'2024-01-31T10:00:00Z' text of timestamp[s] values."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    # Via a naive timestamp so the text carries no zone suffix of Arrow's choosing.
    text = pc.cast(pc.cast(pc.cast(arr, pa.int64()), pa.timestamp("s")), pa.string())
    n = len(text)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + n + 1]
    if arr.null_count or n == 0 or offsets[-1] - offsets[0] != 19 * n:
        # Nulls (dirty deletes) or years past 9999: the general, slower path.
        text = pc.utf8_replace_slice(text, start=10, stop=11, replacement="T")
        return _join(text, "Z")
    # Every value is "YYYY-MM-DD HH:MM:SS": patch the bytes instead of calling string kernels.
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    grid = np.empty((n, 20), dtype=np.uint8)
    grid[:, :19] = data.reshape(n, 19)
    grid[:, 10] = ord("T")
    grid[:, 19] = ord("Z")
    new_offsets = np.arange(0, 20 * (n + 1), 20, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(new_offsets), pa.py_buffer(grid))


def _override(arr: pa.Array, bad: pa.Array | None) -> pa.Array:
    return arr if bad is None else pc.if_else(pc.is_valid(bad), bad, arr)


def _write_csv(path: Path, table: pa.Table) -> None:
    """Small CSV with a plain header (Arrow quotes header names)."""
    with pa.OSFile(str(path), "wb") as f:
        f.write((",".join(table.column_names) + "\n").encode())
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        pacsv.write_csv(table, f, write_options=options)


class _Sink:
    """One output file in one format; chunks arrive as native tables."""

    def __init__(
        self, path: Path, types: dict[str, str], fmt: str, text_columns: frozenset[str]
    ) -> None:
        self.path = path
        self.types = types
        self.fmt = fmt
        self.rows = 0
        # Columns written as text even where the format has a native type (dirty values).
        self.text_columns = text_columns
        fields = []
        for name, t in types.items():
            native = _ARROW_TYPES[t]
            if name in text_columns:
                fields.append((name, pa.string()))
            elif fmt == "csv":
                fields.append((name, native if t == "integer" else pa.string()))
            else:
                fields.append((name, native))
        self.schema = pa.schema(fields)
        self._file: pa.NativeFile | None = None
        self._csv: pacsv.CSVWriter | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._jsonl: IO[bytes] | None = None
        if fmt == "csv":
            # Our own header: Arrow would quote the column names.
            self._file = pa.OSFile(str(path), "wb")
            self._file.write((",".join(self.schema.names) + "\n").encode())
            options = pacsv.WriteOptions(include_header=False, quoting_style="none")
            self._csv = pacsv.CSVWriter(self._file, self.schema, write_options=options)
        elif fmt == "parquet":
            self._parquet = pq.ParquetWriter(str(path), self.schema)
        else:
            self._jsonl = path.open("wb")

    def write(self, table: pa.Table, overrides: dict[str, pa.Array] | None = None) -> None:
        overrides = overrides or {}
        if self.fmt == "jsonl":
            self._write_jsonl(table, overrides)
        else:
            cols = []
            for name, target in zip(self.schema.names, self.schema.types, strict=True):
                arr = table.column(name)
                if target == pa.string() and self.types[name] != "string":
                    arr = _text(arr, self.types[name])
                cols.append(_override(arr, overrides.get(name)))
            out = pa.table(cols, schema=self.schema)
            if self._csv is not None:
                self._csv.write_table(out)
            elif self._parquet is not None:
                self._parquet.write_table(out)
        self.rows += table.num_rows

    def _write_jsonl(self, table: pa.Table, overrides: dict[str, pa.Array]) -> None:
        assert self._jsonl is not None
        parts: list[Any] = []
        for i, name in enumerate(self.types):
            kind = self.types[name]
            arr = _text(table.column(name), kind)
            if kind in ("string", "date", "timestamp"):
                arr = _join('"', arr, '"')
            bad = overrides.get(name)
            if bad is not None:
                arr = _override(arr, _join('"', bad, '"'))
            parts += [("{" if i == 0 else ",") + f'"{name}":', pc.fill_null(arr, "null")]
        parts.append("}\n")
        lines = _join(*parts)
        if isinstance(lines, pa.ChunkedArray):
            lines = lines.combine_chunks()
        if len(lines) == 0:
            return
        offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)
        start, end = int(offsets[lines.offset]), int(offsets[lines.offset + len(lines)])
        self._jsonl.write(memoryview(lines.buffers()[2])[start:end])

    def close(self) -> None:
        if self._csv is not None:
            self._csv.close()
        if self._file is not None:
            self._file.close()
        if self._parquet is not None:
            self._parquet.close()
        if self._jsonl is not None:
            self._jsonl.close()


@dataclass(frozen=True)
class TravelFiles:
    """Paths of the generated files and the number of data rows in each."""

    customer: Path
    hotel: Path
    booking: Path
    flight: Path
    consent: Path
    counts: dict[str, int]  # entity name or "consent" -> rows written (injected ones included)
    # Dirty runs only: entity -> its <entity>.expected_rejects.csv.
    expected_rejects: dict[str, Path] = field(default_factory=dict)


def generate_travel(
    out: Path,
    *,
    customers: int,
    seed: int = 42,
    dirty: bool = False,
    fmt: str = "csv",
    today: dt.date | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> TravelFiles:
    """Write customer, hotel, booking, flight and consent files into ``out``.

    ``today`` anchors every date (birth dates, past and future stays); it defaults to the
    current date. ``progress(name, rows_so_far)`` is called after each chunk of each file.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if customers < 1:
        raise ValueError("customers must be at least 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    day = ((today or dt.date.today()) - dt.date(1970, 1, 1)).days
    paths = {e: out / f"{e}.{fmt}" for e in ENTITIES}
    paths["consent"] = out / "consent.csv"
    sidecars = {e: out / f"{e}.expected_rejects.csv" for e in ENTITIES} if dirty else {}
    for e in ENTITIES:
        (out / f"{e}.expected_rejects.csv").unlink(missing_ok=True)

    def stream(*key: int) -> np.random.Generator:
        # Independent streams per purpose and chunk: the clean rows do not depend on `dirty`.
        return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))

    sinks: dict[str, _Sink] = {}
    rejects: dict[str, list[tuple[Arr, Arr]]] = {e: [] for e in ENTITIES}
    try:
        for e in ENTITIES:
            types = dict(FIELDS[e])
            text_columns: frozenset[str] = frozenset()
            if dirty:
                types[CHANGE_COLUMN] = "string"
                text_columns = frozenset(c for c in (_DIRTY_DATE.get(e), _DIRTY_INT.get(e)) if c)
            sinks[e] = _Sink(paths[e], types, fmt, text_columns)
        sinks["consent"] = _Sink(paths["consent"], CONSENT_FIELDS, "csv", frozenset())

        def emit(entity: str, table: pa.Table, chunk: int) -> None:
            sink = sinks[entity]
            if dirty and entity in ENTITIES:
                code = ENTITIES.index(entity)
                inj = _inject(stream(2, code, chunk), entity, table, first=chunk == 0, today=day)
                # CSV lines count the header; Parquet / JSON Lines rows start at 1.
                base = sink.rows + (2 if fmt == "csv" else 1)
                rejects[entity].append((inj.positions + base, inj.kinds))
                sink.write(inj.table, inj.overrides)
            else:
                sink.write(table)

        def write_chunk(tables: dict[str, pa.Table], chunk: int) -> None:
            for entity, table in tables.items():
                emit(entity, table, chunk)

        def report(*entities: str) -> None:
            if progress is not None:
                for entity in entities:
                    progress(entity, sinks[entity].rows)

        hotels = _hotels(stream(0), _hotel_count(customers))
        emit("hotel", hotels.table, 0)
        report("hotel")
        next_booking = next_flight = 1
        # Formatting and writing chunk k (Arrow, GIL released) overlaps generating chunk k + 1;
        # at most one chunk waits, which bounds memory.
        with ThreadPoolExecutor(max_workers=1) as writer:
            pending: Future[None] | None = None
            for chunk, start in enumerate(range(0, customers, CHUNK_CUSTOMERS)):
                rng = stream(1, chunk)
                stop = min(start + CHUNK_CUSTOMERS, customers)
                cust = _customers(rng, np.arange(start + 1, stop + 1, dtype=np.int64), day)
                bk = _bookings(rng, cust, hotels, next_booking, day)
                fl = _flights(rng, cust, hotels, bk, next_flight, day)
                tables = {
                    "customer": cust.table,
                    "booking": bk.table,
                    "flight": fl,
                    "consent": _consent(rng, cust, day),
                }
                next_booking += len(bk.ids)
                next_flight += fl.num_rows
                del cust, bk, fl
                if pending is not None:
                    pending.result()
                    report(*tables)
                pending = writer.submit(write_chunk, tables, chunk)
            if pending is not None:
                pending.result()
                report("customer", "booking", "flight", "consent")
    finally:
        for sink in sinks.values():
            sink.close()

    for e, path in sidecars.items():
        parts = rejects[e]
        lines = np.concatenate([p for p, _ in parts]) if parts else np.zeros(0, np.int64)
        kinds = np.concatenate([k for _, k in parts]) if parts else np.zeros(0, np.int64)
        _write_csv(path, pa.table({"line": lines, "reason_kind": _take(pa.array(KINDS), kinds)}))

    return TravelFiles(
        customer=paths["customer"],
        hotel=paths["hotel"],
        booking=paths["booking"],
        flight=paths["flight"],
        consent=paths["consent"],
        counts={name: sink.rows for name, sink in sinks.items()},
        expected_rejects=sidecars,
    )
