"""A PNG picture of a campaign report page (``aiida-hydrides report``) as a headless Chromium renders it: the picture of
the README (``docs/images/discovery_report.png``).

Usage: .venv/bin/python scripts/report_picture.py REPORT_DIR/index.html OUTPUT.png [--width 700] [--height 1680]

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install_system.sh``) and selenium (the dev extra).
"""

import argparse
import pathlib
import shutil
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('page', type=pathlib.Path, help='the report page (index.html)')
    parser.add_argument('output', type=pathlib.Path, help='the PNG to write')
    parser.add_argument('--width', type=int, default=700, help='window width in pixels')
    parser.add_argument('--height', type=int, default=1680, help='window height in pixels (the top of the page)')
    args = parser.parse_args()
    if not args.page.is_file():
        sys.exit(f'no report page at {args.page}')
    missing = [name for name in ('chromium', 'chromedriver') if shutil.which(name) is None]
    if missing:
        sys.exit(f'the picture needs {", ".join(missing)} (scripts/install_system.sh)')

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which('chromium')
    for argument in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--hide-scrollbars'):
        options.add_argument(argument)
    options.add_argument('--allow-file-access-from-files')
    options.add_argument(f'--window-size={args.width},{args.height}')
    driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which('chromedriver')))
    try:
        driver.get(args.page.resolve().as_uri())
        driver.save_screenshot(str(args.output))
    finally:
        driver.quit()
    print(f'{args.output}: {args.width} x {args.height} pixels of {args.page}')


if __name__ == '__main__':
    main()
