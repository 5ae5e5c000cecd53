"""One recognizer per file; build_recognizers() is the registry the engine uses."""
from __future__ import annotations

from typing import List

from presidio_analyzer import EntityRecognizer

from privacy.recognizers.account import AccountRecognizer
from privacy.recognizers.age import AgeRecognizer
from privacy.recognizers.bare_identifier import BareIdentifierRecognizer
from privacy.recognizers.date import ChatDateRecognizer
from privacy.recognizers.dea import DeaRecognizer
from privacy.recognizers.drivers_license import DriversLicenseRecognizer
from privacy.recognizers.email import ChatEmailRecognizer
from privacy.recognizers.ip_address import IpAddressRecognizer
from privacy.recognizers.member_id import MemberIdRecognizer
from privacy.recognizers.mrn import MrnRecognizer
from privacy.recognizers.npi import NpiRecognizer
from privacy.recognizers.person_name import PersonNameRecognizer
from privacy.recognizers.phone import ChatPhoneRecognizer
from privacy.recognizers.spacy_person import SpacyPersonRecognizer
from privacy.recognizers.ssn import SsnRecognizer
from privacy.recognizers.street_address import StreetAddressRecognizer
from privacy.recognizers.url import ChatUrlRecognizer
from privacy.recognizers.zip_code import ZipCodeRecognizer

# Presidio entity -> replacement tag (without the angle brackets)
TAGS = {
    "PERSON": "NAME",
    "DATE_TIME": "DATE",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "US_SSN": "SSN",
    "MRN": "MRN",
    "MEMBER_ID": "MEMBER_ID",
    "ACCOUNT": "ACCOUNT",
    "NPI": "NPI",
    "DEA": "DEA",
    "DRIVERS_LICENSE": "LICENSE",
    "US_DRIVER_LICENSE": "LICENSE",
    "STREET_ADDRESS": "ADDRESS",
    "ZIP_CODE": "ZIP",
    "AGE": "AGE",
    "URL": "URL",
    "IP_ADDRESS": "IP",
    "ID": "ID",
}


def build_recognizers(settings) -> List[EntityRecognizer]:
    return [
        PersonNameRecognizer(),
        SpacyPersonRecognizer(),
        ChatDateRecognizer(),
        ChatPhoneRecognizer(practice_phone=settings.practice_phone),
        ChatEmailRecognizer(),
        SsnRecognizer(),
        MrnRecognizer(settings.mrn_patterns, settings.mrn_patterns_always),
        MemberIdRecognizer(),
        AccountRecognizer(),
        NpiRecognizer(),
        DeaRecognizer(),
        DriversLicenseRecognizer(),
        StreetAddressRecognizer(),
        ZipCodeRecognizer(),
        AgeRecognizer(),
        ChatUrlRecognizer(practice_website=settings.practice_website),
        IpAddressRecognizer(),
        BareIdentifierRecognizer(),
    ]
