#!/usr/bin/env python3
"""A payer on paycore's cashier page in a real browser: headless Chromium opens the page of a
CASHIER payment, checks the merchant's name and the amount, logs in, pays with a coupon and
the wallet balance confirmed by the pay password, sees the result and goes back to the
merchant. Screenshots of the methods at phone and desktop width are saved on the way.

Usage: cashier_browser.py PAGE_URL MERCHANT_NAME EXPECTED_AMOUNT PHONE PASSWORD PAY_PASSWORD
       RETURN_URL_PREFIX SCREENSHOT_DIR USER_DATA_DIR LANG

Prints "ok" (and exits 0) when the browser has landed on the merchant's return page; any
failure prints the reason to stderr and exits non-zero. A wrong pay password is tried first:
its error must appear beside the pay password field, and nothing may be charged.
"""

import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

TIMEOUT_SECONDS = 20


def browser(user_data_dir, lang):
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--lang={lang}",
        f"--user-data-dir={user_data_dir}",
    ]:
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"intl.accept_languages": lang})
    service = Service(executable_path=os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=opts)


def fail(msg):
    print(msg, file=sys.stderr)
    return 1


def pay(driver, wait, pay_password):
    """Chooses the first coupon and the balance, types the pay password, presses Pay."""
    Select(wait.until(EC.presence_of_element_located((By.ID, "coupon")))).select_by_index(1)
    driver.find_element(By.ID, "method-BALANCE").click()
    field = driver.find_element(By.ID, "pay_password")
    field.clear()
    field.send_keys(pay_password)
    driver.find_element(By.ID, "pay").click()


def main():
    if len(sys.argv) != 11:
        print(__doc__, file=sys.stderr)
        return 2
    (url, merchant, amount, phone, password, pay_password, return_prefix, shots, profile,
     lang) = sys.argv[1:]
    driver = browser(profile, lang)
    try:
        driver.set_page_load_timeout(TIMEOUT_SECONDS)
        wait = WebDriverWait(driver, TIMEOUT_SECONDS)
        driver.get(url)
        shown = wait.until(EC.presence_of_element_located((By.ID, "amount"))).text
        if amount not in shown:
            return fail(f"the page shows amount {shown!r}, expected {amount!r}")
        if driver.find_element(By.ID, "merchant").text != merchant:
            return fail("the merchant's name is not shown")
        driver.find_element(By.ID, "phone").send_keys(phone)
        driver.find_element(By.ID, "password").send_keys(password)
        driver.find_element(By.ID, "login").click()
        wait.until(EC.presence_of_element_located((By.ID, "pay")))
        driver.save_screenshot(os.path.join(shots, f"cashier-desktop-{lang}.png"))
        driver.set_window_size(390, 844)
        driver.save_screenshot(os.path.join(shots, f"cashier-phone-{lang}.png"))
        driver.set_window_size(1280, 900)
        pay(driver, wait, "000000")
        err = wait.until(EC.presence_of_element_located((By.ID, "err-pay_password")))
        if not err.text:
            return fail("no error beside the pay password")
        pay(driver, wait, pay_password)
        wait.until(EC.presence_of_element_located((By.ID, "result")))
        driver.find_element(By.ID, "back").click()
        wait.until(lambda d: d.current_url.startswith(return_prefix))
        print("ok")
        return 0
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
