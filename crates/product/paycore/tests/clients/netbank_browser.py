#!/usr/bin/env python3
"""A payer in a real browser: headless Chromium opens the sandbox net-bank page, checks the
amount shown, presses Pay and follows the redirects back to the merchant's return page.

Usage: netbank_browser.py PAGE_URL EXPECTED_AMOUNT RETURN_URL_PREFIX SCREENSHOT_PNG USER_DATA_DIR

Prints "ok" (and exits 0) when the browser has landed on the merchant's return page; any
failure prints the reason to stderr and exits non-zero. Needs `selenium` and the Debian
packages `chromium` and `chromium-driver` (/usr/bin/chromium, /usr/bin/chromedriver).
"""

import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT_SECONDS = 20


def browser(user_data_dir):
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
        "--window-size=1024,768",
        f"--user-data-dir={user_data_dir}",
    ]:
        opts.add_argument(arg)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=opts)


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        return 2
    page_url, expected_amount, return_prefix, screenshot, user_data_dir = sys.argv[1:]
    driver = browser(user_data_dir)
    try:
        driver.set_page_load_timeout(TIMEOUT_SECONDS)
        driver.get(page_url)
        wait = WebDriverWait(driver, TIMEOUT_SECONDS)
        amount = wait.until(EC.presence_of_element_located((By.ID, "amount"))).text
        if expected_amount not in amount:
            print(f"the page shows amount {amount!r}, expected {expected_amount!r}", file=sys.stderr)
            return 1
        driver.save_screenshot(screenshot)
        pay = wait.until(EC.element_to_be_clickable((By.ID, "pay")))
        pay.click()
        # The bank redirects to paycore's return URL, which redirects to the merchant's page.
        wait.until(lambda d: d.current_url.startswith(return_prefix))
        body = wait.until(EC.presence_of_element_located((By.TAG_NAME, "body"))).text
        print(f"landed on {driver.current_url} ({body.strip()[:80]})", file=sys.stderr)
        print("ok")
        return 0
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
